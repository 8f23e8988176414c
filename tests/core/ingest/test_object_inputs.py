"""Ingest inputs named by URI (core.ingest.object_inputs) on S3-compatible storage (moto's
server, tests/support/s3.py): a prefix follows the folder ingest's rules, one object is taken as
one file, the videos are recorded under their URIs, a re-run is recognised, errors are said in
words and no download is left behind."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.config import Settings
from core.ingest import batch as ingest
from core.ingest.pipeline import Pipeline
from core.ingest.storage import StorageError, open_store
from core.media.transcript import Segment
from db.engine import Database, init_db
from db.queries import videos as videos_q
from db.tables import VideoStatus
from scripts.mediagen import gradient_frames, tone, write_srt, write_video
from tests.support.fakes import FakeEncoder
from tests.support.s3 import S3Endpoint, counted_gets

CAPTION = "captions stored beside the object"


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    settings.num_keyframes = 2
    database = Database(settings.resolved_database_url)
    init_db(database)
    yield database
    database.dispose()


def _put(s3: S3Endpoint, key: str, source: Path) -> None:
    store = open_store(s3.uri("media"))
    with store.filesystem.open_output_stream(f"media/{key}") as stream:
        stream.write(source.read_bytes())


@pytest.fixture
def bucket(s3: S3Endpoint, tmp_path: Path) -> S3Endpoint:
    """``uploads/`` holds two small videos (one with subtitles beside it, one in a sub-folder
    without an extension), random bytes and a hidden copy; ``single/`` one more video."""
    local = tmp_path / "made"
    local.mkdir()
    write_video(local / "a.mp4", gradient_frames(5), 10, audio=tone(0.5))
    write_video(local / "b.mp4", gradient_frames(6), 10)
    write_video(local / "c.mp4", gradient_frames(7), 10, audio=tone(0.5, hz=300))
    write_srt([Segment(0.0, 0.4, CAPTION)], local / "a.srt")
    (local / "blob.bin").write_bytes(os.urandom(2048))
    _put(s3, "uploads/a.mp4", local / "a.mp4")
    _put(s3, "uploads/a.srt", local / "a.srt")
    _put(s3, "uploads/deeper/b", local / "b.mp4")
    _put(s3, "uploads/blob.bin", local / "blob.bin")
    _put(s3, "uploads/.hidden.mp4", local / "a.mp4")
    _put(s3, "single/c.mp4", local / "c.mp4")
    return s3


def _leftovers(settings: Settings) -> list[str]:
    """Downloads left in the media folder (every stored medium is named by its hash)."""
    return sorted(p.name for p in settings.media_dir.iterdir() if p.name.startswith("."))


def test_a_prefix_is_ingested_like_a_folder_and_a_single_object_as_a_file(
    db, settings, bucket, fake_encoder, fake_transcriber
):
    uris = [bucket.uri("media/uploads/"), bucket.uri("media/single/c.mp4")]
    report = ingest.ingest_paths(
        db, uris, settings=settings, encoder=fake_encoder, transcriber=fake_transcriber
    )
    by_name = {r.name: r for r in report.results}
    videos = ["s3://media/uploads/a.mp4", "s3://media/uploads/deeper/b", "s3://media/single/c.mp4"]
    assert {name: by_name[name].status for name in videos} == dict.fromkeys(
        videos, VideoStatus.READY
    )
    skipped = {r.name: r.reason for r in report.results if r.status == ingest.SKIPPED}
    assert skipped.keys() == {"a.srt", "blob.bin", ".hidden.mp4"}
    assert skipped["a.srt"] == "subtitles: read with the video of the same name"
    assert skipped[".hidden.mp4"] == "hidden file"
    assert skipped["blob.bin"].startswith("not a readable media file")
    with db.session() as session:
        recorded = {v.original_name: v for v in videos_q.list_videos(session)}
        assert recorded.keys() == set(videos)  # the URI, never the query or the download's path
        assert recorded["s3://media/uploads/deeper/b"].title == "b"
        a = recorded["s3://media/uploads/a.mp4"]
        assert videos_q.get_transcript(session, video_id=a.id).text == CAPTION
    for video in recorded.values():
        assert (settings.data_dir / video.stored_path).is_file()
    assert _leftovers(settings) == []

    again = ingest.ingest_paths(
        db, uris, settings=settings, encoder=fake_encoder, transcriber=fake_transcriber
    )
    assert again.totals == {ingest.DUPLICATE: 3, ingest.SKIPPED: 3}
    for name in videos:
        result = next(r for r in again.results if r.name == name)
        assert result.reason == "already ingested"
        assert result.duplicate_of == recorded[name].id
    with db.session() as session:
        assert videos_q.count_videos(session) == 3
    assert _leftovers(settings) == []


def test_a_rerun_downloads_only_the_objects_that_changed(
    db, settings, bucket, tmp_path, fake_encoder, fake_transcriber
):
    """Objects whose URI, size and last-modified time are recorded for a processed video are
    left out before any download (their subtitles too); a rewritten object is fetched again."""
    write_video(tmp_path / "d.mp4", gradient_frames(8), 10)
    _put(bucket, "catalogue/a.mp4", tmp_path / "made" / "a.mp4")
    _put(bucket, "catalogue/a.srt", tmp_path / "made" / "a.srt")
    _put(bucket, "catalogue/b.mp4", tmp_path / "made" / "b.mp4")
    uris = [bucket.uri("media/catalogue/"), bucket.uri("media/single/c.mp4")]
    kwargs = {"settings": settings, "encoder": fake_encoder, "transcriber": fake_transcriber}

    def ingest_counting_gets() -> tuple[dict[str, ingest.IngestResult], dict[str, int]]:
        with counted_gets() as gets:
            report = ingest.ingest_paths(db, uris, **kwargs)
        assert _leftovers(settings) == []
        return {r.name: r for r in report.results}, dict(gets)

    first, gets = ingest_counting_gets()
    a, b, c = (
        f"s3://media/{key}" for key in ("catalogue/a.mp4", "catalogue/b.mp4", "single/c.mp4")
    )
    assert {first[name].status for name in (a, b, c)} == {VideoStatus.READY}
    assert set(gets) == {
        "media/catalogue/a.mp4",
        "media/catalogue/a.srt",
        "media/catalogue/b.mp4",
    } | {"media/single/c.mp4"}

    unchanged, gets = ingest_counting_gets()
    assert gets == {}  # nothing downloaded
    for name in (a, b, c):
        assert (unchanged[name].status, unchanged[name].reason) == (
            ingest.DUPLICATE,
            "already ingested",
        )
        assert unchanged[name].duplicate_of == first[name].video_id
    assert unchanged["a.srt"].reason == "subtitles: read with the video of the same name"

    _put(bucket, "catalogue/b.mp4", tmp_path / "d.mp4")  # new content, new size
    time.sleep(1.1)  # the store's last-modified time counts seconds
    _put(bucket, "catalogue/a.mp4", tmp_path / "made" / "a.mp4")  # the same bytes written again
    changed, gets = ingest_counting_gets()
    assert set(gets) == {"media/catalogue/a.mp4", "media/catalogue/a.srt", "media/catalogue/b.mp4"}
    assert changed[b].status == VideoStatus.READY and changed[b].video_id != first[b].video_id
    assert (changed[a].reason, changed[a].duplicate_of) == ("already ingested", first[a].video_id)
    assert (changed[c].reason, changed[c].duplicate_of) == ("already ingested", first[c].video_id)
    with db.session() as session:
        assert videos_q.get_video(session, video_id=changed[b].video_id).original_name == b

    after, gets = ingest_counting_gets()
    assert gets == {}
    assert after[b].duplicate_of == changed[b].video_id


def test_an_unchanged_object_is_fetched_again_when_its_video_lacks_the_current_encoder(
    db, settings, bucket, fake_encoder, fake_transcriber
):
    """Leaving an object out is only for a video that needs nothing: a new encoder version
    embeds it again from its download, as before."""
    uri = bucket.uri("media/single/c.mp4")
    kwargs = {"settings": settings, "transcriber": fake_transcriber}
    [first] = ingest.ingest_paths(db, [uri], encoder=fake_encoder, **kwargs).results
    with counted_gets() as gets:
        [again] = ingest.ingest_paths(db, [uri], encoder=FakeEncoder("v2"), **kwargs).results
    assert dict(gets) == {"media/single/c.mp4": 1}
    assert (again.video_id, again.status) == (first.video_id, VideoStatus.READY)


def test_a_missing_key_fails_that_input_and_the_others_go_on(
    db, settings, bucket, fake_encoder, fake_transcriber
):
    report = ingest.ingest_paths(
        db,
        [bucket.uri("media/nothing-here.mp4"), bucket.uri("media/single/c.mp4")],
        settings=settings,
        encoder=fake_encoder,
        transcriber=fake_transcriber,
    )
    [failed] = report.failed
    assert failed.name == "s3://media/nothing-here.mp4"
    assert failed.reason == "no such object or folder: s3://media/nothing-here.mp4"
    assert report.totals == {VideoStatus.FAILED: 1, VideoStatus.READY: 1}


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        (lambda s3: s3.uri("other/uploads/"), "s3://other/uploads: bucket 'other' does not exist"),
        (
            lambda s3: s3.uri("media/uploads/").replace(f":{s3.port}", ":9"),  # the discard port
            "cannot use the storage s3://media/uploads: .*NETWORK_CONNECTION",
        ),
        (lambda s3: "nope://bucket/key.mp4", "input 'nope://bucket/key.mp4': "),
    ],
    ids=["missing bucket", "unreachable endpoint", "unknown scheme"],
)
def test_storage_that_cannot_be_used_stops_the_ingest_before_anything_is_registered(
    db, settings, bucket, fake_encoder, tmp_path, uri, error
):
    dataset = tmp_path / "labels.csv"
    dataset.write_text("video_id,title,description,tags\nv1,A title,,\n")
    with pytest.raises(StorageError, match=error):
        ingest.ingest_paths(
            db,
            [dataset, bucket.uri("media/single/c.mp4"), uri(bucket)],
            settings=settings,
            encoder=fake_encoder,
        )
    with db.session() as session:
        assert videos_q.count_videos(session) == 0
    assert _leftovers(settings) == []


class BrokenPipeline(Pipeline):
    def run(self, video_ids, sidecars, progress):
        assert sidecars, "the subtitles downloaded beside a.mp4 are found"
        raise RuntimeError("the pipeline broke")


def test_downloads_are_removed_when_ingest_fails(db, settings, bucket, fake_encoder):
    with pytest.raises(RuntimeError, match="the pipeline broke"):
        ingest.ingest_paths(
            db,
            [bucket.uri("media/uploads/")],
            settings=settings,
            pipeline=BrokenPipeline(db, settings, encoder=fake_encoder, transcriber=None),
        )
    assert _leftovers(settings) == []


def test_a_local_file_ingested_again_under_its_name_says_already_ingested(
    db, settings, tmp_path, fake_encoder, fake_transcriber
):
    clip = write_video(tmp_path / "clip.mp4", [np.zeros((32, 32, 3), np.uint8)] * 5, 10)
    kwargs = {"settings": settings, "encoder": fake_encoder, "transcriber": fake_transcriber}
    [first] = ingest.ingest_paths(db, [clip], **kwargs).results
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(clip.read_bytes())
    again = ingest.ingest_paths(db, [clip, copy], **kwargs)
    assert [(r.status, r.reason, r.duplicate_of) for r in again.results] == [
        (ingest.DUPLICATE, "already ingested", first.video_id),
        (ingest.DUPLICATE, None, first.video_id),  # the same content under another name
    ]


def test_refused_credentials_stop_the_ingest_in_words(db, settings, bucket, monkeypatch):
    import moto.settings

    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # check every key
    denied = "cannot use the storage s3://media/single/c.mp4: .*DENIED"
    with pytest.raises(StorageError, match=denied):
        ingest.ingest_paths(db, [bucket.uri("media/single/c.mp4")], settings=settings)
    assert _leftovers(settings) == []


def test_a_new_objects_download_is_renamed_into_the_media_store_not_copied(
    db, settings, bucket, fake_encoder, fake_transcriber, monkeypatch
):
    def no_copy(*args, **kwargs):
        raise AssertionError("the download was copied into the media store")

    monkeypatch.setattr(ingest.shutil, "copyfile", no_copy)
    report = ingest.ingest_paths(
        db,
        [bucket.uri("media/single/c.mp4")],
        settings=settings,
        encoder=fake_encoder,
        transcriber=fake_transcriber,
    )
    assert report.totals == {VideoStatus.READY: 1}
