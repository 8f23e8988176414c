"""The server's metrics (DuckDB and PostgreSQL): stored work as written, read again on DuckDB
only after a write or ``fresh_s``, a database that does not answer leaving the rest of the
scrape, and the background threads' state."""

from __future__ import annotations

import json
import shutil
import time
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from core import review
from core.background import Background, PeriodicCheck
from core.config import Settings
from core.errors import TaggerError
from core.metrics import Metrics
from db.engine import Database, init_db
from db.queries import jobs as jobs_q
from db.tables import (
    DeliveryStatus,
    JobStatus,
    ModelVersion,
    ReviewPriority,
    Video,
    VideoStatus,
    WebhookDelivery,
    utcnow,
)
from tests.support.fakes import EndedThread


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value of one scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }


def _seed(db: Database) -> None:
    now = utcnow()
    with db.session() as session:
        for status in ("new", "predicted", "predicted", "reviewed", "failed"):
            session.add(Video(title=status, status=status, created_at=now - timedelta(hours=1)))
        session.add(
            Video(
                title="old",
                status=VideoStatus.PREDICTED,
                flagged=True,
                created_at=now - timedelta(hours=5),
            )
        )
        for title, status, level, hours in (
            ("urgent, waiting", VideoStatus.PREDICTED, ReviewPriority.URGENT, 2),
            ("urgent, processing", VideoStatus.PROCESSING, ReviewPriority.URGENT, 1),
            ("urgent, reviewed", VideoStatus.REVIEWED, ReviewPriority.URGENT, 9),
            ("high, failed", VideoStatus.FAILED, ReviewPriority.HIGH, 9),
        ):
            session.add(
                Video(
                    title=title,
                    status=status,
                    priority=level,
                    prioritized_at=now - timedelta(hours=hours),
                    created_at=now,
                )
            )
        session.add(
            Video(
                title="claimed",
                status=VideoStatus.PREDICTED,
                claimed_by=1,
                claim_expires_at=now + timedelta(minutes=10),
            )
        )
        session.add(
            ModelVersion(
                encoder_id="lite",
                encoder_version="1",
                status="ready",
                is_active=True,
                metrics_json=json.dumps({"micro_auprc": 0.875}),
            )
        )
        for status in ("pending", "failed", "failed"):
            session.add(WebhookDelivery(subscriber_id=1, event="video.predicted", status=status))
        running = jobs_q.create_job(session, kind="train")
        jobs_q.update_job(session, job_id=running.id, status=JobStatus.RUNNING)
        jobs_q.create_job(session, kind="ingest")


def test_stored_work_as_written(database):
    _seed(database)
    seen = _samples(Metrics.of(database, Background()))
    assert seen["tagger_database_up", ()] == 1
    videos = {labels[0][1]: v for (name, labels), v in seen.items() if name == "tagger_videos"}
    assert videos == {
        "new": 1,
        "processing": 1,
        "ready": 0,
        "predicted": 4,
        "in_review": 1,
        "reviewed": 2,
        "failed": 2,
    }
    # a reviewed or failed video waits for nobody
    assert seen["tagger_prioritized_videos", (("priority", "urgent"),)] == 2
    assert seen["tagger_prioritized_videos", (("priority", "high"),)] == 0
    urgent_wait = seen["tagger_oldest_prioritized_wait_seconds", (("priority", "urgent"),)]
    assert 2 * 3600 - 60 < urgent_wait < 2 * 3600 + 60
    assert seen["tagger_oldest_prioritized_wait_seconds", (("priority", "high"),)] == 0
    assert seen["tagger_review_target_seconds", (("priority", "urgent"),)] == 30 * 60  # defaults
    assert seen["tagger_review_target_seconds", (("priority", "high"),)] == 4 * 3600
    assert seen["tagger_flagged_videos", ()] == 1
    assert 5 * 3600 - 60 < seen["tagger_oldest_unreviewed_video_age_seconds", ()] < 5 * 3600 + 60
    assert seen["tagger_jobs", (("kind", "train"), ("status", "running"))] == 1
    assert seen["tagger_jobs", (("kind", "train"), ("status", "queued"))] == 0
    assert seen["tagger_jobs", (("kind", "ingest"), ("status", "queued"))] == 1
    assert seen["tagger_webhook_deliveries", (("status", DeliveryStatus.FAILED.value),)] == 2
    assert seen["tagger_webhook_deliveries", (("status", "delivered"),)] == 0
    assert seen["tagger_active_model_info", (("encoder", "lite"), ("version", "1"))] == 1
    assert seen["tagger_active_model_micro_auprc", ()] == 0.875
    assert seen["process_resident_memory_bytes", ()] > 0


def test_the_review_targets_are_the_admin_s(database):
    """The alerting rules compare the longest waits with these (docs/monitoring/alerts.yml)."""
    with database.session() as session:
        review.set_review_targets(session, urgent_minutes=10, high_minutes=90, user=None)
    seen = _samples(Metrics.of(database, Background()))
    assert seen["tagger_review_target_seconds", (("priority", "urgent"),)] == 600
    assert seen["tagger_review_target_seconds", (("priority", "high"),)] == 90 * 60


def test_the_data_folder_s_room_is_read_when_scraped(database, tmp_path: Path):
    """The alerting rules compare the free space with the room readiness keeps for uploads;
    a data folder that does not exist leaves the free space out (readiness says why)."""
    settings = Settings(data_dir=tmp_path, min_free_disk_mb=123)
    seen = _samples(Metrics.of(database, Background(), settings=settings))
    usage = shutil.disk_usage(tmp_path)
    assert seen["tagger_data_min_free_bytes", ()] == 123 * 2**20
    assert seen["tagger_data_size_bytes", ()] == usage.total
    assert abs(seen["tagger_data_free_bytes", ()] - usage.free) < 256 * 2**20  # others write
    missing = Settings(data_dir=tmp_path / "not-made")
    seen = _samples(Metrics.of(database, Background(), settings=missing))
    assert ("tagger_data_min_free_bytes", ()) in seen
    assert ("tagger_data_free_bytes", ()) not in seen


def test_an_empty_database_reports_zeros_and_no_model(database):
    seen = _samples(Metrics.of(database, Background()))
    assert seen["tagger_oldest_unreviewed_video_age_seconds", ()] == 0
    assert not [key for key in seen if key[0].startswith("tagger_active_model")]
    assert not [key for key in seen if key[0] == "tagger_jobs"]


def test_duckdb_is_read_again_only_after_a_write_or_fresh_s(tmp_path: Path, monkeypatch):
    path = tmp_path / "kept.duckdb"
    server, writer = Database(f"duckdb:///{path}"), Database(f"duckdb:///{path}")
    init_db(server)
    opened = []
    real_session = server.session
    monkeypatch.setattr(server, "session", lambda: opened.append(1) or real_session())
    kept, expired = Metrics.of(server, Background()), Metrics.of(server, Background(), fresh_s=0)
    kept.exposition()
    kept.exposition()
    assert len(opened) == 1  # nothing written: the first reading is kept
    with writer.session() as session:
        session.add(Video(title="new", status=VideoStatus.NEW))
    assert _samples(kept)["tagger_videos", (("state", "new"),)] == 1
    assert len(opened) == 2
    expired.exposition()
    expired.exposition()  # claims expire by the clock: past fresh_s read again, unwritten
    assert len(opened) == 4


def test_a_database_that_does_not_answer_leaves_the_rest(database, monkeypatch):
    metrics = Metrics.of(database, Background(), fresh_s=0)

    def busy():
        raise TaggerError("database is busy")

    monkeypatch.setattr(database, "session", busy)
    seen = _samples(metrics)
    assert seen["tagger_database_up", ()] == 0
    assert not [key for key in seen if key[0] == "tagger_videos"]
    assert seen["process_resident_memory_bytes", ()] > 0


class _Failing(PeriodicCheck):
    name = "failing"

    def interval_s(self) -> float:
        return 0.01

    def check(self) -> None:
        raise TaggerError("the database is busy")


def test_background_threads_state(database, settings):
    background = Background()
    background.start(
        [_Failing(database, settings=settings), EndedThread(database, settings=settings)]
    )
    try:
        for _ in range(200):
            states = {s.name: s for s in background.states()}
            if states["failing"].last_round_at is not None and not states["ended"].alive:
                break
            time.sleep(0.02)
        seen = _samples(Metrics.of(database, background))
    finally:
        background.stop()
    assert states["failing"].alive and states["failing"].last_error == "the database is busy"
    assert seen["tagger_background_thread_up", (("thread", "failing"),)] == 1
    assert seen["tagger_background_last_round_failed", (("thread", "failing"),)] == 1
    assert seen["tagger_background_thread_up", (("thread", "ended"),)] == 0
    assert ("tagger_background_last_round_timestamp_seconds", (("thread", "ended"),)) not in seen
    assert background.states() == []  # stopped and forgotten
