"""Videos taken from object storage by URI (core.ingest.from_storage) on S3-compatible storage
(moto's server): only under an allowed prefix and read with its options, stored as an upload
(idempotent on content and external id), refused in words before reading what is too large,
missing, a folder or not a video, nothing left behind."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings
from core.ingest import from_storage
from core.ingest.batch import UploadRejected, UploadTooLarge, receive_upload
from core.ingest.from_storage import StorageUriRefused, allowed_uri, receive_from_storage
from core.ingest.storage import StorageError, open_store
from db.engine import Database, init_db
from db.queries import videos as videos_q
from scripts.mediagen import gradient_frames, tone, write_video
from tests.support.s3 import S3Endpoint

PREFIX = "s3://media/incoming/"


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("s3://media/incoming/a.mp4?endpoint_override=elsewhere:80", "without options"),
        ("s3://media/incoming/a.mp4#x", "without options"),
        ("s3://media/incoming/../private/a.mp4", "not an object's URI"),
        ("s3://media/incoming/./a.mp4", "not an object's URI"),
        ("s3://media/incoming//a.mp4", "not an object's URI"),
        ("media/incoming/a.mp4", "not an object's URI"),
        ("s3://media/incoming-other/a.mp4", "not under an allowed prefix (s3://media/incoming/)"),
        ("file:///etc/passwd", "not an object's URI"),
        ("file://etc/passwd", "not under an allowed prefix"),
        ("s3://media/incoming", "not under an allowed prefix"),
    ],
)
def test_uris_outside_the_allowed_prefixes_are_refused(uri: str, reason: str) -> None:
    with pytest.raises(StorageUriRefused, match=re.escape(reason)):
        allowed_uri(uri, [f"{PREFIX}?endpoint_override=minio:9000&scheme=http"])


def test_the_prefix_gives_its_options_and_none_allowed_says_so() -> None:
    prefixes = ["s3://media/incoming?endpoint_override=minio:9000&scheme=http", "gs://other/"]
    assert allowed_uri("s3://media/incoming/2026/a.mp4", prefixes) == (
        "s3://media/incoming/2026/a.mp4?endpoint_override=minio:9000&scheme=http"
    )
    assert allowed_uri("gs://other/b.mp4", prefixes) == "gs://other/b.mp4"
    with pytest.raises(StorageUriRefused, match="TAGGER_API_STORAGE_PREFIXES"):
        allowed_uri("s3://media/incoming/a.mp4", [])


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.resolved_database_url)
    init_db(database)
    yield database
    database.dispose()


@pytest.fixture
def stored(s3: S3Endpoint, settings: Settings, tmp_path: Path) -> S3Endpoint:
    """``incoming/clip.mp4`` (a video), ``incoming/blob.bin`` (not one), ``incoming/big.mp4``
    (2 MB of bytes); the server allows ``incoming/``."""
    clip = write_video(tmp_path / "clip.mp4", gradient_frames(6), 10, audio=tone(0.5))
    objects = {"clip.mp4": clip.read_bytes(), "blob.bin": os.urandom(4096)}
    objects["big.mp4"] = os.urandom(2 << 20)
    store = open_store(s3.uri("media"))
    for name, data in objects.items():
        with store.filesystem.open_output_stream(f"media/incoming/{name}") as stream:
            stream.write(data)
    settings.api_storage_prefixes = s3.uri("media/incoming/")
    return s3


def _take(db: Database, settings: Settings, uri: str, **given):
    return receive_from_storage(
        db,
        uri=uri,
        title=given.get("title", ""),
        description="",
        settings=settings,
        user=None,
        external_id=given.get("external_id"),
    )


def test_an_object_is_stored_as_an_upload(
    stored, db: Database, settings: Settings, tmp_path: Path
) -> None:
    first = _take(db, settings, "s3://media/incoming/clip.mp4", title="Cup", external_id="p-1")
    assert not first.duplicate
    with db.session() as session:
        video = videos_q.get_video(session, video_id=first.video_id)
    assert (video.title, video.original_name, video.external_id) == ("Cup", "clip.mp4", "p-1")
    assert (settings.data_dir / video.stored_path).read_bytes() == (
        tmp_path / "clip.mp4"
    ).read_bytes()
    again = _take(db, settings, "s3://media/incoming/clip.mp4", external_id="p-1")
    assert again.duplicate and again.video_id == first.video_id
    assert not [p for p in settings.media_dir.iterdir() if p.name.startswith(".")]


def test_refused_in_words_before_reading(stored, db: Database, settings: Settings) -> None:
    settings.max_upload_mb = 1
    with pytest.raises(UploadTooLarge, match="has 2,097,152 bytes, over the 1 MB upload limit"):
        _take(db, settings, "s3://media/incoming/big.mp4")
    with pytest.raises(UploadRejected, match="no object at s3://media/incoming/gone.mp4"):
        _take(db, settings, "s3://media/incoming/gone.mp4")
    with pytest.raises(UploadRejected, match="has no video stream|no video|not"):
        _take(db, settings, "s3://media/incoming/blob.bin")
    with db.session() as session:
        assert videos_q.list_videos(session) == []
    assert not [p for p in settings.media_dir.iterdir() if p.name.startswith(".")]


def test_a_stream_that_breaks_off_registers_nothing(db: Database, settings: Settings) -> None:
    class Broken:
        def read(self, size: int) -> bytes:
            raise OSError("connection reset by peer")

    with pytest.raises(StorageError, match="cannot read s3://m/clip.mp4: connection reset"):
        receive_upload(
            db,
            data=from_storage._Reading(Broken(), "s3://m/clip.mp4"),
            filename="clip.mp4",
            title="",
            description="",
            settings=settings,
            user=None,
        )
    with db.session() as session:
        assert videos_q.list_videos(session) == []
    assert not [p for p in settings.media_dir.iterdir() if p.name.startswith(".")]
