"""Analytics aggregates on a small hand-checked dataset (DuckDB and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import review as review_rules
from db.engine import Database
from db.queries import analytics, labels, taxonomy, users, videos
from db.queries import model_versions as models
from db.queries.model_versions import PredictionRow
from db.queries.videos import PredictionSummary
from db.tables import ReviewPriority, TaxonomyNode, Video, VideoStatus, utcnow

NODES = [
    ("s", "Sports", None, "Sports", 1, 0),
    ("s.soc", "Soccer", "s", "Sports: Soccer", 2, 1),
    ("s.ten", "Tennis", "s", "Sports: Tennis", 2, 2),
    ("m", "Music", None, "Music", 1, 3),
]


@pytest.fixture
def seeded(database: Database) -> dict:
    """Three videos, all predicted by one model and reviewed by alice:

    v0: model Sports+Soccer (0.97), human Soccer            -> agree
    v1: model Sports+Tennis (0.95), human Music             -> model-only Sports/Tennis,
                                                               human-only Music
    v2: model Music (0.6), human Sports: Tennis (p absent)  -> doubtful Tennis; model-only Music
    plus an imported Music label on v0.
    """
    with database.session() as s:
        taxonomy.replace_taxonomy(
            s,
            nodes=[
                TaxonomyNode(id=i, name=nm, parent_id=p, path=pa, level=lv, sort_key=k)
                for i, nm, p, pa, lv, k in NODES
            ],
            edges=[("s", "s.soc"), ("s", "s.ten")],
        )
        alice = users.create_user(s, username="alice", password_hash="x")
        model = models.create_model_version(s, encoder_id="lite", encoder_version="1")
        models.finish_model_version(s, model_version_id=model.id, status="ready")
        ids = [videos.create_video(s, title=f"v{i}", status=VideoStatus.READY).id for i in range(3)]
        models.put_predictions(
            s,
            model_version_id=model.id,
            rows=[
                PredictionRow(ids[0], "s", 0.98, True),
                PredictionRow(ids[0], "s.soc", 0.97, True),
                PredictionRow(ids[1], "s", 0.96, True),
                PredictionRow(ids[1], "s.ten", 0.95, True),
                PredictionRow(ids[2], "m", 0.6, True),
            ],
        )
        videos.set_prediction_summaries(
            s, model_version_id=model.id, summaries=[PredictionSummary(v, 0.1, None) for v in ids]
        )
        labels.import_labels(s, labels=[(ids[0], "m")])
        for vid, nodes in zip(ids, (["s.soc"], ["m"], ["s.ten"]), strict=True):
            review_rules.save_review(
                s, video_id=vid, expected_version=0, node_ids=nodes, user=alice
            )
    return {"ids": ids, "model": model.id, "alice": alice}


def test_label_distribution_rolls_up_and_drills_down(database: Database, seeded: dict) -> None:
    with database.session() as s:
        tier1 = analytics.label_distribution(s, source="human")
        sports = analytics.label_distribution(s, parent_id="s")
        everything = analytics.label_distribution(s)
    assert [(t.node_id, t.n_videos, t.has_children) for t in tier1] == [
        ("s", 2, True),
        ("m", 1, False),
    ]
    assert {t.node_id: t.n_videos for t in sports} == {"s.soc": 1, "s.ten": 1}
    assert {t.node_id: t.n_videos for t in everything}["m"] == 2  # v1 human + v0 import


def test_throughput_counts_saved_reviews_per_day(database: Database, seeded: dict) -> None:
    with database.session() as s:
        rows = analytics.moderator_throughput(s, since=utcnow() - timedelta(days=1))
    assert [(r.day, r.username, r.n_reviews) for r in rows] == [(utcnow().date(), "alice", 3)]


def test_throughput_names_a_renamed_moderator_once(database: Database, seeded: dict) -> None:
    with database.session() as s:
        users.rename_user(s, user_id=seeded["alice"].id, username="alice@new.example")
        video = videos.get_video(s, video_id=seeded["ids"][0])
        review_rules.save_review(
            s,
            video_id=video.id,
            expected_version=video.version,
            node_ids=["m"],
            user=seeded["alice"],
        )
        rows = analytics.moderator_throughput(s, since=utcnow() - timedelta(days=1))
    assert [(r.username, r.n_reviews) for r in rows] == [("alice@new.example", 4)]


def test_disagreement_per_tag(database: Database, seeded: dict) -> None:
    with database.session() as s:
        rows = {
            t.node_id: t for t in analytics.disagreement_by_tag(s, model_version_id=seeded["model"])
        }
    # Sports: model v0,v1; human v0,v2 -> both 1, model-only 1, human-only 1
    assert (rows["s"].n_both, rows["s"].n_model_only, rows["s"].n_human_only) == (1, 1, 1)
    assert (rows["m"].n_both, rows["m"].n_model_only, rows["m"].n_human_only) == (0, 1, 1)
    assert "s.soc" not in rows  # full agreement is not listed
    assert rows["s"].f1 == pytest.approx(0.5)


def test_likely_label_errors(database: Database, seeded: dict) -> None:
    ids = seeded["ids"]
    with database.session() as s:
        found = analytics.likely_label_errors(
            s, model_version_id=seeded["model"], min_confidence=0.9
        )
    got = {(x.video_id, x.node_id, x.kind) for x in found}
    # v1: model is sure of Tennis (most specific; Sports is covered by it); v2: human Tennis has
    # p~0; v1's human Music has p~0 too
    assert got == {
        (ids[1], "s.ten", "missing"),
        (ids[2], "s.ten", "doubtful"),
        (ids[1], "m", "doubtful"),
    }
    assert found[0].kind == "doubtful" and found[0].probability == 0.0
    with pytest.raises(ValueError, match="min_confidence"), database.session() as s:
        analytics.likely_label_errors(s, model_version_id=seeded["model"], min_confidence=0.3)


def test_priority_turnaround_measures_from_raised_to_reviewed(database: Database) -> None:
    """Waits of 10, 20, ..., 100 minutes for urgent videos: median 55, 90 % within 90 (the
    nearest rank), 3 within a 30-minute target (its bound included); a video reviewed before it
    was raised, one reviewed before the period and a normal one are left out; high has none."""
    now = utcnow()
    with database.session() as s:
        for minutes in range(10, 101, 10):
            s.add(
                Video(
                    title=f"waited {minutes}",
                    priority=ReviewPriority.URGENT,
                    prioritized_at=now - timedelta(hours=3),
                    reviewed_at=now - timedelta(hours=3) + timedelta(minutes=minutes),
                )
            )
        s.add(  # raised after its review (sent back later): not a wait
            Video(
                title="raised later",
                priority=ReviewPriority.URGENT,
                prioritized_at=now,
                reviewed_at=now - timedelta(hours=1),
            )
        )
        s.add(  # reviewed before the period
            Video(
                title="old",
                priority=ReviewPriority.HIGH,
                prioritized_at=now - timedelta(days=40),
                reviewed_at=now - timedelta(days=39),
            )
        )
        s.add(Video(title="normal", reviewed_at=now))
    with database.session() as s:
        urgent, high = analytics.priority_turnaround(
            s,
            since=now - timedelta(days=30),
            targets={ReviewPriority.URGENT: 30 * 60.0, ReviewPriority.HIGH: 4 * 3600.0},
        )
    assert (urgent.priority, urgent.reviewed) == (ReviewPriority.URGENT, 10)
    assert urgent.median_s == pytest.approx(55 * 60)
    assert urgent.p90_s == pytest.approx(90 * 60)
    assert (urgent.target_s, urgent.within_target) == (30 * 60, 3)
    assert (high.priority, high.reviewed, high.median_s, high.p90_s, high.within_target) == (
        ReviewPriority.HIGH,
        0,
        None,
        None,
        0,
    )
