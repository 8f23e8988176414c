"""core/review.py: the rules themselves (the db tests cover the same functions on both backends)."""

from __future__ import annotations

import json

import pytest

from core import review
from core.auth import PermissionDeniedError
from core.taxonomy import from_paths, save_to_db
from db.engine import Database
from db.queries import audit as audit_q
from db.queries import labels as labels_q
from db.queries import review as review_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.queries.review import QueueFilters
from db.tables import AuditAction, ReviewPriority, Video, VideoStatus


@pytest.fixture
def world(db: Database):
    """A taxonomy A > A1, one moderator, and a video in each stored status."""
    tax = from_paths([["A"], ["A", "A1"]])
    with db.session() as s:
        save_to_db(s, tax)
        mod = users_q.create_user(s, username="mod", password_hash="x")
        ids = {
            status: videos_q.create_video(s, title=status.value, status=status).id
            for status in VideoStatus
        }
    return {"ids": ids, "mod": mod, "a": tax.find("A").id, "a1": tax.find("A: A1").id}


def test_effective_labels_are_human_once_reviewed_else_imported(db: Database, world) -> None:
    ids, mod = world["ids"], world["mod"]
    ready, predicted, new = ids[VideoStatus.READY], ids[VideoStatus.PREDICTED], ids[VideoStatus.NEW]
    with db.session() as s:
        labels_q.import_labels(
            s, labels=[(ready, world["a"]), (predicted, world["a"]), (predicted, world["a1"])]
        )
        review.save_review(s, video_id=ready, expected_version=0, node_ids=[], user=mod)
        effective = review.effective_labels(s)
        counted = review.count_labelled_videos(s)
        assert review.effective_labels(s, video_ids=[]) == {}
        assert review.effective_labels(s, video_ids=[predicted, new]) == {
            predicted: [world["a"], world["a1"]]
        }
    # reviewed with no tags: a confirmed empty set, the import no longer counts; no labels: absent
    assert effective == {ready: [], predicted: [world["a"], world["a1"]]}
    assert counted == len(effective)  # each video once, however many labels it has


def test_review_next_takes_only_processed_videos(db: Database, world) -> None:
    mod = world["mod"]
    with db.session() as s:
        for statuses in [("new",), ("processing",), ("failed",), ("new", "failed")]:
            filters = QueueFilters(statuses=statuses)
            assert review.claim_next(s, user=mod, filters=filters, claim_minutes=5) is None
        first = review.claim_next(s, user=mod, claim_minutes=5)
        assert first.status in review.DEFAULT_CLAIM_STATES
        # a reloaded page resumes the claim it holds instead of taking another video
        assert review.claim_next(s, user=mod, claim_minutes=5).id == first.id
        second = review.claim_next(s, user=mod, claim_minutes=5, exclude_ids=[first.id])
    assert {first.status, second.status} == set(review.DEFAULT_CLAIM_STATES)


def test_send_back_reopens_as_predicted_or_ready(db: Database, world) -> None:
    mod, reviewed = world["mod"], world["ids"][VideoStatus.REVIEWED]
    ready = world["ids"][VideoStatus.READY]
    with db.session() as s:
        review.save_review(s, video_id=ready, expected_version=0, node_ids=[], user=mod)
        sent = review.send_back_for_review(
            s, video_ids=[reviewed, ready, world["ids"][VideoStatus.NEW]], user=mod, reason=" why "
        )
        back = {v: s.get(Video, v, populate_existing=True) for v in (reviewed, ready)}
    assert sent == 2  # the new video was not reviewed: left alone
    # neither was ever predicted, so both go back to "ready", flagged with the reason
    assert {v.status for v in back.values()} == {VideoStatus.READY}
    assert all(v.flagged and v.flag_reason == "second review: why" for v in back.values())
    assert back[ready].version == 2  # the save and the send-back


def test_review_targets_default_then_the_admin_s_audited(database: Database) -> None:
    """30 min urgent and 4 h high until an admin (or the command line) sets them; a lead or a
    moderator is refused, and so is a target outside 1 minute to a week, changing nothing."""
    with database.session() as s:
        assert review_q.review_targets(s) == {
            ReviewPriority.URGENT: 30 * 60.0,
            ReviewPriority.HIGH: 240 * 60.0,
        }
        people = {
            role: users_q.create_user(s, username=role, password_hash="x", role=role)
            for role in ("moderator", "lead", "admin")
        }
    for role in ("moderator", "lead"):
        with database.session() as s, pytest.raises(PermissionDeniedError, match="admin role"):
            review.set_review_targets(s, urgent_minutes=5, high_minutes=5, user=people[role])
    for urgent, high in [(0, 60), (15, 7 * 24 * 60 + 1)]:
        with database.session() as s, pytest.raises(review.ReviewTargetInputError):
            review.set_review_targets(s, urgent_minutes=urgent, high_minutes=high, user=None)
    with database.session() as s:
        assert review_q.review_targets(s)[ReviewPriority.URGENT] == 30 * 60.0
        set_to = review.set_review_targets(
            s, urgent_minutes=10, high_minutes=90, user=people["admin"]
        )
    assert set_to == {ReviewPriority.URGENT: 600.0, ReviewPriority.HIGH: 90 * 60.0}
    with database.session() as s:
        assert review_q.review_targets(s) == set_to
        [entry] = audit_q.list_audit(s, action=AuditAction.REVIEW_TARGETS)
    assert (entry.username, json.loads(entry.detail_json)) == (
        "admin",
        {"urgent_minutes": 10, "high_minutes": 90},
    )
