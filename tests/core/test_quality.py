"""Overlap answers: blindness, agreement, disputes, adjudication and the role checks."""

from __future__ import annotations

import pytest

from core import quality
from core import review as review_rules
from core.quality import OverlapClosedError, QualityPermissionError
from db.engine import Database
from db.queries import audit, labels, users, videos
from db.queries import quality as quality_q
from db.tables import AuditAction, VideoStatus


@pytest.fixture
def team(database: Database, taxonomy) -> dict:
    """Two moderators, a third, a lead and an admin; overlap on every video, two answers each."""
    with database.session() as s:
        people = {
            name: users.create_user(s, username=name, password_hash="x", role=role)
            for name, role in (
                ("ann", "moderator"),
                ("bob", "moderator"),
                ("cat", "moderator"),
                ("lee", "lead"),
                ("adm", "admin"),
            )
        }
        quality.set_overlap(s, share=1.0, moderators=2, user=people["adm"])
        video = videos.create_video(s, title="clip", status=VideoStatus.READY).id
    return {**people, "video": video, "ids": {t.path: t.id for t in taxonomy.nodes}}


def _tags(team: dict, *paths: str) -> list[str]:
    return [team["ids"][p] for p in paths]


def test_only_admins_change_the_overlap_setting(database: Database, team: dict) -> None:
    with database.session() as s:
        for name in ("ann", "lee"):
            with pytest.raises(
                QualityPermissionError, match="overlap setting needs the admin role;"
            ):
                quality.set_overlap(s, share=0.5, moderators=3, user=team[name])
        with pytest.raises(ValueError, match="between 0 and 1"):
            quality.set_overlap(s, share=1.5, moderators=2, user=team["adm"])
        with pytest.raises(ValueError, match="2 to"):
            quality.set_overlap(s, share=0.1, moderators=1, user=team["adm"])
        assert quality_q.get_overlap(s) == quality_q.OverlapConfig(share=1.0, moderators=2)


def test_overlap_share_is_a_stable_fraction_of_videos() -> None:
    chosen = [quality.in_overlap(i, 0.1) for i in range(1, 2001)]
    assert 150 < sum(chosen) < 250
    assert chosen == [quality.in_overlap(i, 0.1) for i in range(1, 2001)]
    assert not any(quality.in_overlap(i, 0.0) for i in range(1, 100))
    assert all(quality.in_overlap(i, 1.0) for i in range(1, 100))


def test_answers_are_blind_until_adjudication(database: Database, team: dict) -> None:
    video = team["video"]
    with database.session() as s:
        assert quality.is_overlap_video(s, video_id=video)
        result = quality.submit_answer(
            s, video_id=video, node_ids=_tags(team, "Sports: Soccer"), user=team["ann"]
        )
        assert (result.answers, result.outcome) == (1, "waiting")
    with database.session() as s:
        # no labels exist yet, so the review page has nothing of ann's to show bob
        assert review_rules.effective_labels(s, video_ids=[video]) == {}
        assert labels.get_labels(s, video_id=video) == []
        assert quality.get_answer(s, video_id=video, user=team["bob"]) is None
        with pytest.raises(QualityPermissionError):
            quality.get_answer(s, video_id=video, user=team["bob"], of_user_id=team["ann"].id)
        with pytest.raises(QualityPermissionError):
            quality.list_disputes(s, user=team["bob"])
        assert quality.get_answer(s, video_id=video, user=team["ann"]) == _tags(
            team, "Sports: Soccer"
        )
        assert quality.get_answer(
            s, video_id=video, user=team["lee"], of_user_id=team["ann"].id
        ) == _tags(team, "Sports: Soccer")
        # "review next" never hands ann the video again; bob gets it
        assert review_rules.claim_next(s, user=team["ann"], claim_minutes=20) is None
        assert review_rules.claim_next(s, user=team["bob"], claim_minutes=20).id == video


def test_identical_answers_become_the_labels(database: Database, team: dict) -> None:
    video = team["video"]
    tags = _tags(team, "Sports: Golf")
    with database.session() as s:
        quality.submit_answer(s, video_id=video, node_ids=tags, user=team["ann"])
        result = quality.submit_answer(s, video_id=video, node_ids=tags, user=team["bob"])
    assert result.outcome == "agreed"
    with database.session() as s:
        assert review_rules.effective_labels(s, video_ids=[video]) == {video: tags}
        assert videos.get_video(s, video_id=video).status == VideoStatus.REVIEWED
        assert not quality.is_overlap_video(s, video_id=video)
        with pytest.raises(OverlapClosedError, match="final labels"):
            quality.submit_answer(s, video_id=video, node_ids=tags, user=team["cat"])


def test_differing_answers_wait_for_a_lead(database: Database, team: dict) -> None:
    video = team["video"]
    with database.session() as s:
        quality.submit_answer(
            s, video_id=video, node_ids=_tags(team, "Sports: Golf"), user=team["ann"]
        )
        result = quality.submit_answer(
            s, video_id=video, node_ids=_tags(team, "Sports: Soccer"), user=team["bob"]
        )
        assert result.outcome == "disputed"
    with database.session() as s:
        assert review_rules.effective_labels(s, video_ids=[video]) == {}  # training does not see it
        assert videos.get_video(s, video_id=video).flagged
        assert review_rules.claim_next(s, user=team["cat"], claim_minutes=20) is None
        with pytest.raises(OverlapClosedError, match="adjudication"):
            quality.submit_answer(s, video_id=video, node_ids=_tags(team, "News"), user=team["cat"])
        disputes = quality.list_disputes(s, user=team["lee"])
        assert [d.video_id for d in disputes] == [video]
        assert disputes[0].answers == {
            "ann": _tags(team, "Sports: Golf"),
            "bob": _tags(team, "Sports: Soccer"),
        }
        version = disputes[0].version
        with pytest.raises(QualityPermissionError):
            quality.adjudicate(
                s, video_id=video, expected_version=version, node_ids=[], user=team["ann"]
            )
    final = _tags(team, "Sports", "Sports: Golf")
    with database.session() as s:
        quality.adjudicate(
            s, video_id=video, expected_version=version, node_ids=final, user=team["lee"]
        )
    with database.session() as s:
        assert review_rules.effective_labels(s, video_ids=[video]) == {video: sorted(final)}
        done = videos.get_video(s, video_id=video)
        assert (done.status, done.flagged) == (VideoStatus.REVIEWED, False)
        assert quality.list_disputes(s, user=team["adm"]) == []
        actions = [e.action for e in audit.list_audit(s, video_id=video)]
        assert AuditAction.ADJUDICATED in actions
        assert actions.count(AuditAction.OVERLAP_ANSWER) == 2
        assert {a.username for a in quality_q.list_answers(s)} == {"ann", "bob"}


def test_disabled_or_unknown_users_cannot_act(database: Database, team: dict) -> None:
    with database.session() as s:
        users.update_user(s, user_id=team["lee"].id, disabled=True)
    with database.session() as s, pytest.raises(QualityPermissionError, match="not an active"):
        quality.list_disputes(s, user=team["lee"])


def test_overlap_progress_counts_waiting_disputed_and_settled_videos(
    database: Database, team: dict
) -> None:
    """Three answered overlap videos (one answer; two that differ; two alike) and one without
    answers; only leads and admins read it."""
    golf, soccer = _tags(team, "Sports: Golf"), _tags(team, "Sports: Soccer")
    with database.session() as s:
        ids = [videos.create_video(s, title=f"v{i}", status=VideoStatus.READY).id for i in range(3)]
        quality.submit_answer(s, video_id=ids[0], node_ids=golf, user=team["ann"])
        quality.submit_answer(s, video_id=ids[1], node_ids=golf, user=team["ann"])
        quality.submit_answer(s, video_id=ids[1], node_ids=soccer, user=team["bob"])
        quality.submit_answer(s, video_id=ids[2], node_ids=golf, user=team["ann"])
        quality.submit_answer(s, video_id=ids[2], node_ids=golf, user=team["bob"])
        progress = quality.overlap_progress(s, user=team["lee"])
        assert progress == quality.OverlapProgress(waiting=1, disputed=1, settled=1)
        with pytest.raises(QualityPermissionError):
            quality.overlap_progress(s, user=team["ann"])
