"""Labels: save_review (atomic, optimistic version check, audit), effective labels, imports."""

from __future__ import annotations

import json

import pytest

from core import review as review_rules
from db.engine import Database
from db.queries import NotFoundError, StaleVersionError, UnknownNodeError, audit, labels, videos
from db.tables import AuditAction, LabelSource, VideoStatus


@pytest.fixture
def video_id(database: Database, taxonomy) -> int:
    with database.session() as session:
        video = videos.create_video(session, title="match", external_id="m1")
        labels.import_labels(session, labels=[(video.id, taxonomy.resolve("Sports: Soccer").id)])
        return video.id


def _ids(taxonomy, *paths: str) -> list[str]:
    return [taxonomy.resolve(p).id for p in paths]


def test_save_review_replaces_labels_bumps_version_and_audits(
    database, taxonomy, video_id, moderator
) -> None:
    soccer, golf, news = _ids(taxonomy, "Sports: Soccer", "Sports: Golf", "News")
    with database.session() as session:
        saved = review_rules.save_review(
            session, video_id=video_id, expected_version=0, node_ids=[golf, news], user=moderator
        )
    assert saved.version == 1 and saved.status == VideoStatus.REVIEWED
    assert saved.reviewed_by == moderator.id and saved.reviewed_at is not None
    with database.session() as session:
        assert review_rules.effective_labels(session, video_ids=[video_id]) == {
            video_id: sorted([golf, news])
        }
        human = [
            l.node_id
            for l in labels.get_labels(session, video_id=video_id, source=LabelSource.HUMAN)
        ]
        assert sorted(human) == sorted([golf, news])
        entries = audit.list_audit(session, video_id=video_id)
    actions = sorted((e.action, e.node_id) for e in entries)
    assert actions == sorted(
        [
            (AuditAction.LABEL_ADD, golf),
            (AuditAction.LABEL_ADD, news),
            (AuditAction.LABEL_REMOVE, soccer),
            (AuditAction.REVIEW_SAVED, None),
        ]
    )
    review = next(e for e in entries if e.action == AuditAction.REVIEW_SAVED)
    assert json.loads(review.detail_json)["removed"] == [soccer]
    assert all(e.username == "mod" for e in entries)


def test_stale_version_is_refused_and_nothing_is_written(
    database, taxonomy, video_id, moderator
) -> None:
    golf, news = _ids(taxonomy, "Sports: Golf", "News")
    with database.session() as session:
        review_rules.save_review(
            session, video_id=video_id, expected_version=0, node_ids=[golf], user=moderator
        )
    with (
        pytest.raises(StaleVersionError, match="changed by someone else"),
        database.session() as session,
    ):
        review_rules.save_review(
            session, video_id=video_id, expected_version=0, node_ids=[news], user=moderator
        )
    with database.session() as session:
        assert review_rules.effective_labels(session, video_ids=[video_id]) == {video_id: [golf]}
        assert videos.get_video(session, video_id=video_id).version == 1
        assert (
            len(audit.list_audit(session, video_id=video_id, action=AuditAction.REVIEW_SAVED)) == 1
        )


def test_empty_review_is_authoritative(database, taxonomy, video_id, moderator) -> None:
    with database.session() as session:
        review_rules.save_review(
            session, video_id=video_id, expected_version=0, node_ids=[], user=moderator
        )
    with database.session() as session:
        assert review_rules.effective_labels(session) == {video_id: []}


def test_second_review_diffs_against_first(database, taxonomy, video_id, moderator) -> None:
    golf, news = _ids(taxonomy, "Sports: Golf", "News")
    with database.session() as session:
        review_rules.save_review(
            session, video_id=video_id, expected_version=0, node_ids=[golf], user=moderator
        )
    with database.session() as session:
        review_rules.save_review(
            session, video_id=video_id, expected_version=1, node_ids=[golf, news], user=moderator
        )
    with database.session() as session:
        last = audit.list_audit(
            session, video_id=video_id, action=AuditAction.REVIEW_SAVED, limit=1
        )[0]
        assert json.loads(last.detail_json)["added"] == [news]
        assert json.loads(last.detail_json)["removed"] == []
        assert review_rules.effective_labels(session, video_ids=[video_id])[video_id] == sorted(
            [golf, news]
        )


def test_unknown_tags_and_videos_are_refused(database, taxonomy, video_id, moderator) -> None:
    with pytest.raises(UnknownNodeError), database.session() as session:
        review_rules.save_review(
            session, video_id=video_id, expected_version=0, node_ids=["nope"], user=moderator
        )
    with pytest.raises(NotFoundError), database.session() as session:
        review_rules.save_review(
            session, video_id=999, expected_version=0, node_ids=[], user=moderator
        )
    with pytest.raises(UnknownNodeError), database.session() as session:
        labels.import_labels(session, labels=[(video_id, "nope")])


def test_effective_labels_use_imports_until_reviewed(database, taxonomy, moderator) -> None:
    soccer, golf = _ids(taxonomy, "Sports: Soccer", "Sports: Golf")
    with database.session() as session:
        a = videos.create_video(session, title="a")
        b = videos.create_video(session, title="b")
        unlabelled = videos.create_video(session, title="c")
        added = labels.import_labels(
            session, labels=[(a.id, soccer), (b.id, soccer), (b.id, soccer)]
        )
        assert added == sorted([(a.id, soccer), (b.id, soccer)])
        assert labels.import_labels(session, labels=[(a.id, soccer)]) == []
        review_rules.save_review(
            session, video_id=b.id, expected_version=0, node_ids=[golf], user=moderator
        )
    with database.session() as session:
        result = review_rules.effective_labels(session)
        assert result == {a.id: [soccer], b.id: [golf]}
        assert unlabelled.id not in result
        assert labels.count_labels(session, source=LabelSource.IMPORT) == 2
        assert review_rules.count_labelled_videos(session) == len(result) == 2


def test_delete_labels_removes_only_named_source(database, taxonomy, video_id, moderator) -> None:
    soccer = taxonomy.resolve("Sports: Soccer").id
    with database.session() as session:
        review_rules.save_review(
            session, video_id=video_id, expected_version=0, node_ids=[soccer], user=moderator
        )
        labels.delete_labels(session, labels=[(video_id, soccer)], source=LabelSource.IMPORT)
    with database.session() as session:
        assert labels.get_labels(session, video_id=video_id, source=LabelSource.IMPORT) == []
        assert len(labels.get_labels(session, video_id=video_id, source=LabelSource.HUMAN)) == 1
