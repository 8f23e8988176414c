"""Hostile media through the real ingestion: every input is processed or fails alone with a stored
one-line reason, the batch goes on, duplicates are recognised by content, and nothing is written
outside ``data_dir`` (checked on the filesystem)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.config import Settings
from core.ingest import batch as ingest
from db.queries import review
from db.queries import videos as videos_q
from db.queries.review import QueueFilters
from db.tables import VideoStatus
from tests.support.signin import sign_in_apptest

DATA_LAYOUT = {
    "media",
    "thumbnails",
    "models",
    "tagger.duckdb",
    "tagger.duckdb.lock",
    "tagger.duckdb.lock.queue",
    "tagger.duckdb.wal",
}


def _tree(root: Path, *, skip: Path) -> set[str]:
    return {
        str(p.relative_to(root)) for p in root.rglob("*") if skip not in p.parents and p != skip
    }


def _outside(tmp_path: Path, settings: Settings) -> set[str]:
    """Everything a test could have touched except the data folder: the test's temp folder and
    the working directory (the repository)."""
    return _tree(tmp_path, skip=settings.data_dir) | {f"cwd:{p.name}" for p in Path.cwd().iterdir()}


def _assert_data_dir_layout(settings: Settings) -> None:
    assert {p.name for p in settings.data_dir.iterdir()} <= DATA_LAYOUT
    for path in settings.media_dir.iterdir():
        assert path.is_file() and not path.is_symlink()
        stem = path.name.split(".")[0]
        assert len(stem) == 64 and all(c in "0123456789abcdef" for c in stem), (
            path.name
        )  # <sha256>.<ext>


def _check_results(db, settings, corpus, report) -> dict[str, str]:
    by_name = {r.name: r for r in report.results}
    outcome = {}
    with db.session() as session:
        shown = {
            row.video_id: row.error
            for row in review.list_queue(
                session, filters=QueueFilters(statuses=("failed",)), page_size=1000
            ).rows
        }
        for item in corpus:
            result = by_name[item.path.name]
            video = videos_q.get_video(session, video_id=result.video_id)
            if result.status == VideoStatus.FAILED:
                assert item.expect in ("failed", "either"), (item.kind, result.reason)
                assert video.status == VideoStatus.FAILED and video.error == result.reason, (
                    item.kind
                )
                assert (
                    video.error.strip() and "\n" not in video.error and len(video.error) <= 500
                ), item.kind
                assert shown[video.id] == video.error  # what the ingest page and the queue list
            else:
                assert item.expect in ("ok", "either"), (item.kind, result.status)
                assert result.status == VideoStatus.READY and video.status == VideoStatus.READY, (
                    item.kind
                )
                stored = settings.data_dir / video.stored_path
                assert stored.parent == settings.media_dir and stored.name.startswith(
                    video.content_hash
                )
                assert video.original_name == item.path.name
            outcome[item.kind] = result.status
    return outcome


def _run_corpus(
    db, settings, hostile, tmp_path, tally, *, encoder, transcriber, full: bool
) -> dict[str, str]:
    corpus = hostile.build_corpus(tmp_path / "in", full=full)
    duplicate = next(i for i in corpus if i.kind == "duplicate-b")
    corpus.remove(duplicate)
    os.replace(duplicate.path, tmp_path / duplicate.path.name)  # ingested in a second run
    before = _outside(tmp_path, settings)

    report = ingest.ingest_paths(
        db,
        [tmp_path / "in", tmp_path / "in" / "pipe.mp4"],
        settings=settings,
        encoder=encoder,
        transcriber=transcriber,
    )

    # the batch went on through every input; the FIFO named on the command line fails, the one
    # found in the folder is reported as skipped; neither is ever opened
    assert len(report.results) == len(corpus) + 2
    pipes = sorted((r.status, r.video_id) for r in report.results if r.name == "pipe.mp4")
    assert pipes == [(VideoStatus.FAILED, None), (ingest.SKIPPED, None)]
    outcome = _check_results(db, settings, corpus, report)
    tally["hostile media inputs tried"] += len(corpus) + 1

    again = ingest.ingest_paths(
        db,
        [tmp_path / duplicate.path.name, tmp_path / "in"],
        settings=settings,
        encoder=encoder,
        transcriber=transcriber,
    )
    tally["hostile media inputs tried"] += 1
    original = next(r for r in report.results if r.name == "original.mp4")
    dup = next(r for r in again.results if r.name == duplicate.path.name)
    assert dup.status == ingest.DUPLICATE and dup.duplicate_of == original.video_id
    assert {r.status for r in again.results} <= {
        ingest.DUPLICATE,
        VideoStatus.FAILED,
        ingest.SKIPPED,  # the FIFO
    }  # nothing redone
    with db.session() as session:
        assert videos_q.count_videos(session) == len(corpus)  # no row for the duplicate or the FIFO

    assert _outside(tmp_path, settings) == before | {duplicate.path.name}
    assert not (tmp_path / "evil.mp4").exists() and not (Path.cwd() / "pwned").exists()
    _assert_data_dir_layout(settings)
    return outcome


@pytest.mark.timeout(300)
def test_hostile_corpus_fails_alone_with_reasons_fake_encoder(
    db, settings, hostile, tmp_path, fake_encoder, fake_transcriber, tally
):
    settings.num_keyframes = 2
    outcome = _run_corpus(
        db,
        settings,
        hostile,
        tmp_path,
        tally,
        encoder=fake_encoder,
        transcriber=fake_transcriber,
        full=False,
    )
    assert outcome["huge-resolution-sps"] == VideoStatus.FAILED
    assert outcome["name-newline"] == outcome["name-subshell"] == VideoStatus.READY


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_hostile_corpus_through_the_real_lite_encoder(
    db, settings, hostile, tmp_path, fake_transcriber, accounts, tally
):
    """Real lite encoder; then the ingest page lists every failure with its stored reason."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from core.encoders import load_encoder

    settings.num_keyframes = 4
    encoder = load_encoder(settings)
    outcome = _run_corpus(
        db,
        settings,
        hostile,
        tmp_path,
        tally,
        encoder=encoder,
        transcriber=fake_transcriber,
        full=True,
    )
    assert outcome["video-only"] == VideoStatus.READY

    with db.session() as session:
        failed = {
            v.id: v.error for v in videos_q.list_videos(session, statuses=[VideoStatus.FAILED])
        }
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(
        str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py"), default_timeout=60
    )
    sign_in_apptest(at, "mod", "correct horse battery staple")
    at.switch_page("views/ingest.py").run()
    assert not at.exception, at.exception
    [table] = at.dataframe  # "Failed videos": id, title, reason, when
    shown = dict(zip(table.value["id"], table.value["reason"], strict=True))
    assert shown == failed
    st.cache_data.clear()
    st.cache_resource.clear()


def test_duplicate_content_in_one_batch_is_recognised(
    db, settings, hostile, tmp_path, fake_encoder, fake_transcriber
):
    settings.num_keyframes = 2
    first = hostile.clip(tmp_path / "in" / "a.mp4", 40)
    (tmp_path / "in" / "b.mkv").write_bytes(first.read_bytes())

    report = ingest.ingest_paths(
        db, [tmp_path / "in"], settings=settings, encoder=fake_encoder, transcriber=fake_transcriber
    )

    by_name = {r.name: r for r in report.results}
    assert set(by_name) == {"a.mp4", "b.mkv"}
    assert (
        by_name["b.mkv"].status == ingest.DUPLICATE
        and by_name["b.mkv"].duplicate_of == by_name["a.mp4"].video_id
    )
    assert len(fake_encoder.items) == 1


@pytest.mark.timeout(300)
def test_hostile_upload_names_and_bytes(
    db, settings, hostile, tmp_path, fake_encoder, fake_transcriber, tally
):
    """Uploads: names never reach a path or a shell; bad bytes are refused before anything is
    stored, with the reason in the error."""
    settings.num_keyframes = 2
    before = _outside(tmp_path, settings)
    accepted = []
    for i, name in enumerate(hostile.HOSTILE_UPLOAD_NAMES):
        data = hostile.clip(
            tmp_path / "src" / f"{i}.mp4", 10 + 9 * i, seconds=0.5, audio=False
        ).read_bytes()
        result = ingest.ingest_upload(
            db,
            data=data,
            filename=name,
            title=name,
            description="",
            settings=settings,
            user=None,
            encoder=fake_encoder,
            transcriber=fake_transcriber,
        )
        assert result.status == VideoStatus.READY, (name, result.reason)
        accepted.append(result.video_id)
    tally["hostile media inputs tried"] += len(hostile.HOSTILE_UPLOAD_NAMES)
    with db.session() as session:
        for name, video_id in zip(hostile.HOSTILE_UPLOAD_NAMES, accepted, strict=True):
            video = videos_q.get_video(session, video_id=video_id)
            assert video.title == name  # kept exactly, shown escaped (see test_hostile_text)
            assert (settings.data_dir / video.stored_path).parent == settings.media_dir
            assert "/" not in Path(video.stored_path).name and "evil" not in video.stored_path

    corpus = hostile.build_corpus(tmp_path / "bytes", full=False)
    rejected = 0
    for item in corpus:
        try:
            result = ingest.ingest_upload(
                db,
                data=item.path.read_bytes(),
                filename=item.path.name,
                title="t",
                description="",
                settings=settings,
                user=None,
                encoder=fake_encoder,
                transcriber=fake_transcriber,
            )
        except ingest.UploadRejected as e:
            assert item.path.name in str(e) or "empty" in str(e), item.kind
            assert "\n" not in str(e).replace(item.path.name, "")
            rejected += 1
        else:
            assert result.status in (VideoStatus.READY, VideoStatus.FAILED, ingest.DUPLICATE), (
                item.kind
            )
            assert item.expect != "failed" or result.status == VideoStatus.FAILED, item.kind
    tally["hostile media inputs tried"] += len(corpus)
    assert rejected >= sum(i.expect == "failed" for i in corpus)
    assert not [
        p for p in settings.media_dir.iterdir() if p.name.startswith(".upload-")
    ]  # temp files gone
    new = _outside(tmp_path, settings) - before
    assert {p.split("/")[0] for p in new} <= {"src", "bytes", ".bytes-sources"}, (
        new
    )  # only our own inputs
    assert not (tmp_path / "evil.mp4").exists() and not Path("/etc/cron.d/evil.mp4").exists()
    assert not (Path.cwd() / "pwned").exists()
    _assert_data_dir_layout(settings)
