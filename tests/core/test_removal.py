"""Removing a video for good (core/removal.py): every row about it goes, its media file and
thumbnails too unless a copy of the same bytes uses them or the file is not the media folder's;
the audit log records who removed it and why, subscribers hear ``video.removed``; a video being
processed is refused, and ingest passes over a video removed before it was planned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyarrow.fs import FileType
from sqlmodel import col, func, select

from core.config import Settings
from core.ingest import batch as ingest
from core.removal import RemovalInputError, VideoBusyError, remove_video
from db.engine import Database
from db.queries import NotFoundError
from db.queries import audit as audit_q
from db.queries import videos as videos_q
from db.queries import webhooks as webhooks_q
from db.tables import (
    AuditAction,
    Embedding,
    Keyframe,
    Label,
    LeadReview,
    OnscreenText,
    OverlapAnswer,
    Prediction,
    Transcript,
    Video,
    VideoStatus,
    WebhookDelivery,
)

ROW_TABLES = (
    Label,
    Prediction,
    Embedding,
    Keyframe,
    Transcript,
    OnscreenText,
    OverlapAnswer,
    LeadReview,
)


@pytest.fixture
def two_videos(db, settings, make_video, fake_encoder, fake_transcriber) -> tuple[int, int]:
    """Two ingested clips of different bytes; the first with a label, a blind overlap answer and
    a lead's verdict."""
    settings.num_keyframes = 4
    report = ingest.ingest_paths(
        db,
        [make_video("a.mp4"), make_video("b.mp4", seconds=3.0)],
        settings=settings,
        encoder=fake_encoder,
        transcriber=fake_transcriber,
    )
    first, second = (r.video_id for r in report.results)
    with db.session() as s:
        s.add(Label(video_id=first, node_id="n1", source="human"))
        s.add(OverlapAnswer(video_id=first, user_id=7, node_ids_json='["n1"]'))
        s.add(LeadReview(video_id=first, lead_id=8, verdict="accepted"))
        webhooks_q.add_subscriber(s, url="http://platform.test/hook", secret="s" * 32)
    return first, second


def _rows(db: Database, video_id: int) -> dict[str, int]:
    with db.session() as s:
        counts = {
            table.__tablename__: s.exec(
                select(func.count()).select_from(table).where(col(table.video_id) == video_id)
            ).one()
            for table in ROW_TABLES
        }
        counts["video"] = int(s.get(Video, video_id) is not None)
    return {name: n for name, n in counts.items() if n}


def _files(settings: Settings, video_id: int, db: Database) -> tuple[Path, Path]:
    with db.session() as s:
        video = videos_q.get_video(s, video_id=video_id)
    return settings.data_dir / video.stored_path, settings.thumbnails_dir / video.content_hash


def test_a_removed_video_leaves_only_its_audit_trail(db, settings, two_videos) -> None:
    first, second = two_videos
    media, thumbnails = _files(settings, first, db)
    kept_media, kept_thumbnails = _files(settings, second, db)
    assert media.is_file() and any(thumbnails.iterdir())
    assert {"video", "label", "embedding", "keyframe", "overlap_answer", "lead_review"} <= set(
        _rows(db, first)
    )
    untouched = _rows(db, second)

    removed = remove_video(
        db, settings=settings, video_id=first, user=None, reason="  takedown\nrequest 1234 "
    )
    assert (removed.video_id, removed.title, removed.files_deleted, removed.files_kept) == (
        first,
        "a",
        2,
        0,
    )
    assert removed.describe() == f"removed video {first} ('a'): 2 files deleted"
    assert _rows(db, first) == {}
    assert not media.exists() and not thumbnails.exists()
    assert _rows(db, second) == untouched and kept_media.is_file() and kept_thumbnails.is_dir()
    with db.session() as s:
        [entry] = audit_q.list_audit(s, video_id=first, action=AuditAction.VIDEO_REMOVED)
        assert json.loads(entry.detail_json) == {
            "reason": "takedown request 1234",
            "title": "a",
            "external_id": None,
        }
        [delivery] = s.exec(select(WebhookDelivery).where(WebhookDelivery.video_id == first)).all()
    assert delivery.event == "video.removed"
    assert json.loads(delivery.payload_json)["video"]["id"] == first
    with pytest.raises(NotFoundError, match=f"no video with id {first}"):
        remove_video(db, settings=settings, video_id=first, user=None, reason="again")


def test_files_a_copy_of_the_same_bytes_uses_stay_until_the_last_copy_goes(
    db, settings, two_videos
) -> None:
    first, _ = two_videos
    media, thumbnails = _files(settings, first, db)
    with db.session() as s:
        original = videos_q.get_video(s, video_id=first)
        copy = videos_q.create_video(
            s,
            title="a copy",
            status=VideoStatus.READY,
            content_hash=original.content_hash,
            stored_path=original.stored_path,
        ).id
    removed = remove_video(db, settings=settings, video_id=first, user=None, reason="duplicate")
    assert (removed.files_deleted, removed.files_kept) == (0, 2)
    assert media.is_file() and thumbnails.is_dir()
    removed = remove_video(db, settings=settings, video_id=copy, user=None, reason="takedown")
    assert (removed.files_deleted, removed.files_kept) == (2, 0)
    assert not media.exists() and not thumbnails.exists()


def test_a_file_outside_the_media_folder_is_never_deleted(db, settings, tmp_path) -> None:
    """A dataset import points at the customer's own folder: the product never writes there."""
    outside = tmp_path / "customer" / "clip.mp4"
    outside.parent.mkdir()
    outside.write_bytes(b"not ours")
    with db.session() as s:
        video_id = videos_q.create_video(s, title="imported", stored_path=str(outside)).id
    removed = remove_video(db, settings=settings, video_id=video_id, user=None, reason="erasure")
    assert (removed.files_deleted, removed.files_kept) == (0, 1) and outside.is_file()
    assert _rows(db, video_id) == {}


def test_a_video_being_processed_or_a_removal_without_a_reason_is_refused(db, settings) -> None:
    with db.session() as s:
        video_id = videos_q.create_video(s, title="busy", status=VideoStatus.PROCESSING).id
    with pytest.raises(RemovalInputError, match="say why"):
        remove_video(db, settings=settings, video_id=video_id, user=None, reason=" \n ")
    with pytest.raises(RemovalInputError, match="at most 500"):
        remove_video(db, settings=settings, video_id=video_id, user=None, reason="x" * 501)
    with pytest.raises(VideoBusyError, match="is being processed"):
        remove_video(db, settings=settings, video_id=video_id, user=None, reason="takedown")
    assert _rows(db, video_id) == {"video": 1}


def test_ingest_passes_over_a_video_removed_before_it_was_planned(
    db, settings, make_video, fake_encoder, fake_transcriber
) -> None:
    """An upload removed while its ingest job waited: the job reports it, and the rest of its
    run goes on."""
    upload = make_video("upload.mp4")
    with db.session() as s:
        gone = videos_q.create_video(s, title="gone", status=VideoStatus.NEW).id
    remove_video(db, settings=settings, video_id=gone, user=None, reason="the uploader deleted it")
    result = ingest.process_upload(
        db, gone, settings=settings, encoder=fake_encoder, transcriber=fake_transcriber
    )
    assert (result.status, result.reason) == (VideoStatus.FAILED, "removed before it was processed")
    report = ingest.ingest_paths(
        db, [upload], settings=settings, encoder=fake_encoder, transcriber=fake_transcriber
    )
    assert [r.status for r in report.results] == [VideoStatus.READY]


def test_the_copy_ray_workers_read_from_object_storage_goes_too(db, settings, two_videos, s3):
    from core.ingest.storage import open_store

    first, second = two_videos
    settings.ray_data_uri = s3.uri("media/tagger")
    store = open_store(settings.ray_data_uri)
    relative = {
        v: _files(settings, v, db)[0].relative_to(settings.data_dir) for v in (first, second)
    }
    store.upload(settings.data_dir, relative.values())  # as `tagger ingest --ray` does
    objects = {v: f"{store.root}/{relative[v].as_posix()}" for v in (first, second)}
    found = store.filesystem.get_file_info(list(objects.values()))
    assert [info.type for info in found] == [FileType.File, FileType.File]
    removed = remove_video(db, settings=settings, video_id=first, user=None, reason="erasure")
    assert (removed.files_deleted, removed.files_left) == (2, [])
    found = store.filesystem.get_file_info(list(objects.values()))
    assert [info.type for info in found] == [FileType.NotFound, FileType.File]
