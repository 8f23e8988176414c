"""Where Ray workers find the data dir (core.ingest.storage): a mount used in place, or
S3-compatible storage (moto's server, tests/support/s3.py) that media travel through."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.ingest.storage import StorageError, open_store, write_returned
from core.media import decode as media

MEDIA = Path("media/ab/clip.mp4")


def _object(store, relative: Path) -> bytes:
    with store.filesystem.open_input_stream(f"{store.root}/{relative.as_posix()}") as stream:
        return stream.read()


def _put(store, relative: Path, data: bytes) -> None:
    with store.filesystem.open_output_stream(f"{store.root}/{relative.as_posix()}") as stream:
        stream.write(data)


def test_a_file_uri_is_a_mount_used_in_place(tmp_path):
    store = open_store(tmp_path.as_uri())
    assert store.mounted and Path(store.root) == tmp_path
    store.check()
    store.upload(tmp_path, [MEDIA])  # nothing to copy, even for a file that is not there
    with store.worker_data_dir(MEDIA) as data_dir:
        assert data_dir.path == tmp_path
        (tmp_path / "thumbnails").mkdir()
        (tmp_path / "thumbnails" / "000.jpg").write_bytes(b"jpeg")
        assert data_dir.written() == {}  # already where the driver reads it
    assert (tmp_path / "thumbnails" / "000.jpg").exists()


def test_a_uri_pyarrow_cannot_read_is_refused_in_words():
    with pytest.raises(StorageError, match="ray_data_uri 'nope://bucket/data'"):
        open_store("nope://bucket/data")


def test_upload_copies_what_is_missing_or_of_another_size_and_leaves_the_rest(s3, tmp_path):
    store = open_store(s3.uri("media/tagger"))
    assert not store.mounted and store.name == "s3://media/tagger"
    store.check()
    data_dir = tmp_path / "data"
    for relative, data in ((MEDIA, b"video bytes"), (Path("media/cd/same.mp4"), b"0123456789")):
        (data_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / relative).write_bytes(data)
    _put(store, Path("media/cd/same.mp4"), b"abcdefghij")  # same size: taken as the same file
    store.upload(data_dir, [MEDIA, Path("media/cd/same.mp4"), Path("media/gone.mp4")])
    assert _object(store, MEDIA) == b"video bytes"
    assert _object(store, Path("media/cd/same.mp4")) == b"abcdefghij"
    (data_dir / MEDIA).write_bytes(b"a longer video now")
    store.upload(data_dir, [MEDIA])
    assert _object(store, MEDIA) == b"a longer video now"


def test_a_worker_extracts_in_a_scratch_copy_removed_afterwards_even_on_failure(s3, tmp_path):
    store = open_store(s3.uri("media/tagger"))
    _put(store, MEDIA, b"video bytes")
    with store.worker_data_dir(MEDIA) as data_dir:
        assert data_dir.path != tmp_path and (data_dir.path / MEDIA).read_bytes() == b"video bytes"
        (data_dir.path / "thumbnails" / "h").mkdir(parents=True)
        (data_dir.path / "thumbnails" / "h" / "000.jpg").write_bytes(b"jpeg")
        assert data_dir.written() == {"thumbnails/h/000.jpg": b"jpeg"}  # not the media itself
    assert not data_dir.path.exists()
    with pytest.raises(RuntimeError), store.worker_data_dir(MEDIA) as failed:
        raise RuntimeError("extraction failed")
    assert not failed.path.exists()
    write_returned(tmp_path, {"thumbnails/h/000.jpg": b"jpeg"})
    assert (tmp_path / "thumbnails" / "h" / "000.jpg").read_bytes() == b"jpeg"


def test_a_missing_object_fails_extraction_as_a_missing_file_does_on_one_machine(s3):
    store = open_store(s3.uri("media/tagger"))
    with store.worker_data_dir(MEDIA) as data_dir, pytest.raises(media.MediaError) as error:
        media.probe(data_dir.path / MEDIA)
    assert error.value.reason == "file not found: clip.mp4"


def test_a_missing_bucket_is_said_in_words(s3):
    """(An unreachable endpoint: tests/core/ingest/test_distributed.py, through a Ray ingest.)"""
    with pytest.raises(StorageError, match="s3://other/tagger: bucket 'other' does not exist"):
        open_store(s3.uri("other/tagger")).check()


def test_refused_credentials_are_said_in_words(s3, monkeypatch):
    import moto.settings

    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # check every key
    with pytest.raises(StorageError, match="cannot use the storage s3://media/tagger: .*DENIED"):
        open_store(s3.uri("media/tagger")).check()
