"""Uploads in two steps (receive now, process later): what is stored when, the webhook event
queued at the end of processing, and the ingest job that processes API uploads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.config import Settings
from core.ingest import batch
from core.lifecycle import jobs, prediction
from db.engine import Database, init_db
from db.queries import audit as audit_q
from db.queries import jobs as jobs_q
from db.queries import videos as videos_q
from db.queries import webhooks as webhooks_q
from db.tables import AuditAction, JobStatus, VideoStatus
from scripts.mediagen import tone, write_video
from tests.support.fakes import FakeEncoder, FakeTranscriber, activate_stand_in_model
from tests.support.retention import expire_media_of


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    settings.num_keyframes = 2
    database = Database(settings.resolved_database_url)
    init_db(database)
    with database.session() as session:
        webhooks_q.add_subscriber(session, url="http://127.0.0.1:9/hook", secret="s" * 20)
    yield database
    database.dispose()


def _clip(tmp_path: Path, shade: int) -> bytes:
    frames = [np.full((48, 64, 3), shade, np.uint8) for _ in range(10)]
    return write_video(tmp_path / f"c{shade}.mp4", frames, 10, audio=tone(1.0)).read_bytes()


def _receive(db, settings, data: bytes, title: str = "clip", **kwargs):
    return batch.receive_upload(
        db,
        data=data,
        filename="c.mp4",
        title=title,
        description="",
        settings=settings,
        user=None,
        **kwargs,
    )


def _events(db) -> list[tuple[str, int]]:
    """The queued video events (a stand-in model's activation queues one of its own)."""
    with db.session() as session:
        return [
            (d.event, d.video_id)
            for d in webhooks_q.list_deliveries(session)
            if d.event.startswith("video.")
        ]


def test_receive_stores_and_registers_without_processing(db, settings, tmp_path):
    stored = _receive(db, settings, _clip(tmp_path, 60), external_id="x-1")
    assert not stored.duplicate
    with db.session() as session:
        video = videos_q.get_video(session, video_id=stored.video_id)
    assert video.status == VideoStatus.NEW and video.external_id == "x-1"
    assert (settings.data_dir / video.stored_path).is_file()
    assert _events(db) == []


def test_uploading_the_bytes_again_brings_back_media_that_retention_deleted(db, settings, tmp_path):
    """Under its external id or by content: the upload answers the existing video (a duplicate)
    and its media file is back, audited; an upload of kept bytes changes nothing."""
    data = _clip(tmp_path, 60)
    stored = _receive(db, settings, data, external_id="x-1")
    for upload in ({"external_id": "x-1"}, {}):
        expire_media_of(db, settings, stored.video_id)
        again = _receive(db, settings, data, **upload)
        assert again.video_id == stored.video_id and again.duplicate
        with db.session() as session:
            video = videos_q.get_video(session, video_id=stored.video_id)
        assert video.media_deleted_at is None and (settings.data_dir / video.stored_path).is_file()
    assert _receive(db, settings, data).duplicate
    with db.session() as session:
        restored = audit_q.list_audit(session, action=AuditAction.MEDIA_RESTORED)
    assert [e.video_id for e in restored] == [stored.video_id] * 2


def test_failed_processing_queues_video_failed(db, settings, tmp_path):
    stored = _receive(db, settings, _clip(tmp_path, 60), title="boom")
    result = batch.process_upload(
        db,
        stored.video_id,
        settings=settings,
        encoder=FakeEncoder(fail_title="boom"),
        transcriber=FakeTranscriber(),
    )
    assert result.status == VideoStatus.FAILED
    assert _events(db) == [("video.failed", stored.video_id)]


def test_predicted_upload_queues_video_predicted(db, settings, tmp_path, monkeypatch):
    def fake_model(db, *, settings, video_ids, **kwargs) -> int:  # an active model's effect
        with db.session() as session:
            return videos_q.set_prediction_summaries(
                session,
                model_version_id=1,
                summaries=[videos_q.PredictionSummary(v, 0.5, None) for v in video_ids],
            )

    monkeypatch.setattr(prediction, "predict_videos", fake_model)
    activate_stand_in_model(db)
    stored = _receive(db, settings, _clip(tmp_path, 90))
    batch.process_upload(
        db, stored.video_id, settings=settings, encoder=FakeEncoder(), transcriber=FakeTranscriber()
    )
    assert _events(db) == [("video.predicted", stored.video_id)]


def test_ingest_job_processes_the_registered_uploads(db, settings, tmp_path, monkeypatch):
    processed: list[int] = []

    def process(db, video_id, *, settings):
        processed.append(video_id)
        return batch.IngestResult("c.mp4", VideoStatus.READY, video_id=video_id)

    monkeypatch.setattr(batch, "process_upload", process)
    ids = [_receive(db, settings, _clip(tmp_path, s)).video_id for s in (30, 200)]
    with db.session() as session:
        job_id = jobs_q.create_job(session, kind="ingest", params={"video_ids": ids}).id
    info = jobs.run_job(db, job_id, settings=settings)
    assert info.status == JobStatus.SUCCEEDED and processed == ids
    assert info.result == {
        "videos": [{"video_id": i, "status": "ready", "reason": None} for i in ids]
    }
