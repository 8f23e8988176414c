"""`tagger` pipeline commands: ingest, train, predict, evaluate, models, jobs (thin wrappers)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from core import review as review_rules
from core.config import Settings
from core.encoders import Encoder
from core.ingest import pipeline as ingest_pipeline
from core.ingest.storage import open_store
from core.lifecycle import training
from core.media.transcribe import Transcriber
from core.media.transcript import Transcript
from core.taxonomy import from_paths, save_to_db
from db.engine import Database, init_db
from db.queries import audit as audit_q
from db.queries import embeddings as embeddings_q
from db.queries import jobs as jobs_q
from db.queries import labels as labels_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.tables import AuditAction, VideoStatus
from scripts.cli import app
from scripts.mediagen import read_wav, speak_to_wav, write_video
from tests.support.fakes import FakeEncoder, FakeTranscriber, RussianTranscriber

runner = CliRunner()
# The configured encoder's id (training reads the cached vectors of settings.encoder) with a fake
# version.
FAKE_KEY = ("lite", "fake-v1")


class TitleOnlyEncoder(Encoder):
    def __init__(self) -> None:
        (self.id, self.version), self.dims = FAKE_KEY, {"title": 3}

    def encode_batch(self, items):
        return [
            {"title": np.array([1.0, len(i.title), 0.5], np.float32)} if i.title else {}
            for i in items
        ]


class Silence(Transcriber):
    name, version = "silence", "1"

    def transcribe(self, audio):
        return Transcript(language=None, source="whisper", segments=[])


def _run(*args: str):
    return runner.invoke(app, list(args))


def _one_line_error(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert lines and lines[-1].startswith("error:") and "Traceback" not in result.output, (
        result.output
    )
    return lines[-1]


@pytest.fixture
def fake_models(monkeypatch):
    monkeypatch.setattr(ingest_pipeline, "load_encoder", lambda settings: TitleOnlyEncoder())
    monkeypatch.setattr(
        ingest_pipeline, "encoder_cache_key", lambda settings: TitleOnlyEncoder().cache_key
    )
    monkeypatch.setattr(ingest_pipeline, "load_transcriber", lambda settings: Silence())


def _clip(path: Path, shade: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, [np.full((32, 32, 3), shade, np.uint8)] * 5, 10)


def test_help_lists_the_pipeline_commands():
    result = _run("--help")
    commands = ("ingest", "detect-language", "retranscribe", "train", "predict", "evaluate")
    commands += ("models", "jobs")
    for command in (*commands, "bench-hmc"):
        assert command in result.output
    for sub in (["models", "--help"], ["jobs", "run", "--help"], ["bench-hmc", "--help"]):
        assert _run(*sub).exit_code == 0


def test_ingest_prints_a_summary_and_fails_when_a_video_fails(
    settings: Settings, fake_models, tmp_path
):
    settings.num_keyframes = 2
    _clip(tmp_path / "in" / "one.mp4", 30)
    _clip(tmp_path / "in" / "two.mp4", 200)
    ok = _run("ingest", str(tmp_path / "in"))
    assert ok.exit_code == 0, ok.output
    assert "2 ready" in ok.output and "s of video" in ok.output
    assert "no model yet: the review queue opens with 2 videos that cover the pool" in ok.output

    again = _run("ingest", str(tmp_path / "in"))
    assert again.exit_code == 0 and "2 duplicate" in again.output

    (tmp_path / "in" / "broken.mp4").write_bytes(b"\x00" * 100)
    broken = _run("ingest", str(tmp_path / "in"))
    assert "1 of 3 videos failed" in _one_line_error(broken)
    assert "broken.mp4" in broken.output


def test_ingest_takes_object_uris_and_says_a_missing_bucket_in_one_line(
    settings: Settings, fake_models, s3, tmp_path
):
    settings.num_keyframes = 2
    store = s3.uri("media")
    filesystem = open_store(store).filesystem
    for key, shade in (("uploads/one.mp4", 30), ("uploads/two.mp4", 200)):
        with filesystem.open_output_stream(f"media/{key}") as stream:
            stream.write(_clip(tmp_path / key, shade).read_bytes())
    uri = s3.uri("media/uploads/")
    ok = _run("ingest", uri)
    assert ok.exit_code == 0, ok.output
    assert "2 ready" in ok.output and "s3://media/uploads/one.mp4" in ok.output
    again = _run("ingest", uri)
    assert again.exit_code == 0 and "2 duplicate" in again.output
    assert again.output.count("already ingested as video") == 2
    missing = _one_line_error(_run("ingest", s3.uri("nowhere/uploads/")))
    assert missing == "error: the storage s3://nowhere/uploads: bucket 'nowhere' does not exist"


def test_commands_without_a_model_fail_with_one_line(settings: Settings, fake_models):
    assert "no model is active" in _one_line_error(_run("predict"))
    assert "no model is active" in _one_line_error(_run("evaluate"))
    assert "nothing to roll back" in _one_line_error(_run("models", "rollback"))
    assert "no model version 7" in _one_line_error(_run("models", "promote", "7"))
    assert "no job 3" in _one_line_error(_run("jobs", "run", "3"))
    listed = _run("models", "list")
    assert listed.exit_code == 0


def test_train_needs_enough_labelled_videos(settings: Settings, fake_models):
    db = Database(settings.resolved_database_url)
    init_db(db)
    taxonomy = from_paths([["Sports"]])
    with db.session() as session:
        save_to_db(session, taxonomy)
    assert "ingest videos before training" in _one_line_error(_run("train"))
    with db.session() as session:
        for i in range(3):
            video = videos_q.create_video(session, title=f"v{i}", status=VideoStatus.READY)
            embeddings_q.put_embeddings(
                session,
                records=[
                    embeddings_q.EmbeddingRecord(
                        video.id, "title", *FAKE_KEY, f"t{i}", np.ones(3, np.float32)
                    )
                ],
            )
            labels_q.import_labels(session, labels=[(video.id, taxonomy.nodes[0].id)])
    db.dispose()
    assert "at least 10 labelled videos" in _one_line_error(_run("train"))
    with db.session() as session:  # a live training job (this process stands in for its worker)
        job = jobs_q.create_job(session, kind="train")
        jobs_q.update_job(session, job_id=job.id, status="running", pid=os.getpid())
    db.dispose()
    assert f"training job {job.id} is still running" in _one_line_error(_run("train"))


def test_models_predict_and_evaluate_commands(settings: Settings, fake_models):
    db = Database(settings.resolved_database_url)
    init_db(db)
    taxonomy = from_paths([["Sports"], ["Music"]])
    rng = np.random.default_rng(0)
    with db.session() as session:
        save_to_db(session, taxonomy)
        for i in range(16):
            video = videos_q.create_video(session, title=f"v{i}", status=VideoStatus.READY)
            vector = (
                np.eye(3, dtype=np.float32)[i % 2] * 2
                + rng.standard_normal(3).astype(np.float32) * 0.2
            )
            embeddings_q.put_embeddings(
                session,
                records=[
                    embeddings_q.EmbeddingRecord(video.id, "title", *FAKE_KEY, f"t{i}", vector)
                ],
            )
            labels_q.import_labels(session, labels=[(video.id, taxonomy.nodes[i % 2].id)])
    quick = {"n_ensemble": 1, "max_epochs": 3, "trunk": "mlp", "mlp_width": 16}
    first = training.train_model(
        db, settings=settings, user=None, encoder_key=FAKE_KEY, params=quick
    )
    second = training.train_model(
        db, settings=settings, user=None, encoder_key=FAKE_KEY, params=quick
    )
    db.dispose()

    listed = _run("models", "list")
    assert listed.exit_code == 0 and f"{first.id}" in listed.output and "*" in listed.output
    predicted = _run("predict")
    assert predicted.exit_code == 0 and "16 videos predicted" in predicted.output
    assert "0 videos predicted" in _run("predict").output
    assert "16 videos predicted" in _run("predict", "--version", str(second.id)).output
    assert (
        f"model version {second.id} is now active"
        in _run("models", "promote", str(second.id)).output
    )
    assert f"model version {first.id} is now active" in _run("models", "rollback").output
    evaluated = _run("evaluate", "--version", str(second.id))
    assert (
        evaluated.exit_code == 0
        and "micro_auprc" in evaluated.output
        and "violations" in evaluated.output
    )


def test_detect_language_needs_ids_or_all_and_a_multilingual_model(settings: Settings):
    assert "give video ids or --all" in _one_line_error(_run("detect-language"))
    assert "give video ids or --all" in _one_line_error(_run("detect-language", "--all", "3"))
    refused = _one_line_error(_run("detect-language", "--all"))  # the default tiny.en
    assert "English-only and cannot detect languages" in refused
    assert "configure a multilingual Whisper model" in refused


def test_detect_language_reports_each_video_and_fails_when_media_is_gone(
    settings: Settings, fake_models, monkeypatch, tmp_path
):
    from core.ingest import multilingual

    settings.num_keyframes = 2
    tone = np.sin(np.linspace(0, 600, 16000)).astype(np.float32) * 0.2
    for name, shade in (("one.mp4", 30), ("two.mp4", 200)):
        (tmp_path / "in").mkdir(exist_ok=True)
        write_video(
            tmp_path / "in" / name, [np.full((32, 32, 3), shade, np.uint8)] * 5, 10, audio=tone
        )
    assert _run("ingest", str(tmp_path / "in")).exit_code == 0
    monkeypatch.setattr(settings, "whisper_model", "base")  # multilingual (a fake one here)
    monkeypatch.setattr(multilingual, "load_transcriber", lambda s: RussianTranscriber())

    done = _run("detect-language", "--all")
    assert done.exit_code == 0, done.output
    assert "2 detected" in done.output and "ru (80%)" in done.output
    assert "nothing to do" in _run("detect-language", "--all").output
    db = Database(settings.resolved_database_url)
    with db.session() as session:
        one, two = videos_q.list_videos(session)
    db.dispose()
    (settings.data_dir / one.stored_path).unlink()
    again = _run("detect-language", "--force", str(one.id), str(two.id))
    assert "1 of 2 videos failed" in _one_line_error(again)
    assert "one.mp4" in again.output and "is missing" in again.output
    assert "1 detected" in again.output


def test_retranscribe_needs_ids_or_all_and_a_multilingual_model(settings: Settings):
    assert "give video ids or --all" in _one_line_error(_run("retranscribe"))
    assert "give video ids or --all" in _one_line_error(_run("retranscribe", "--all", "3"))
    refused = _one_line_error(_run("retranscribe", "--all"))  # the default tiny.en
    assert "English-only and cannot transcribe other languages" in refused


def test_retranscribe_reports_each_video_and_fails_when_media_is_gone(
    settings: Settings, monkeypatch, tmp_path
):
    """Ingested with an English-only model, the speech then detected as Russian: each
    transcript is written again in Russian and embedded, and a missing file fails alone."""
    from core.ingest import multilingual
    from core.ingest import retranscribe as retranscribe_lib

    class TextEncoder(FakeEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.id, self.version = FAKE_KEY

    for module in (ingest_pipeline, retranscribe_lib):
        monkeypatch.setattr(module, "load_encoder", lambda settings: TextEncoder())
        monkeypatch.setattr(module, "encoder_cache_key", lambda settings: FAKE_KEY)
    monkeypatch.setattr(ingest_pipeline, "load_transcriber", lambda settings: FakeTranscriber())
    settings.num_keyframes = 2
    tone = np.sin(np.linspace(0, 600, 16000)).astype(np.float32) * 0.2
    for name, shade in (("one.mp4", 30), ("two.mp4", 200)):
        (tmp_path / "in").mkdir(exist_ok=True)
        write_video(
            tmp_path / "in" / name, [np.full((32, 32, 3), shade, np.uint8)] * 5, 10, audio=tone
        )
    assert _run("ingest", str(tmp_path / "in")).exit_code == 0
    monkeypatch.setattr(settings, "whisper_model", "base")  # multilingual (a fake one here)
    monkeypatch.setattr(multilingual, "load_transcriber", lambda s: RussianTranscriber())
    assert "2 detected" in _run("detect-language", "--all").output
    db = Database(settings.resolved_database_url)
    with db.session() as session:
        one, two = videos_q.list_videos(session)
    (settings.data_dir / one.stored_path).unlink()

    redone = _run("retranscribe", "--all")

    assert "1 of 2 videos failed" in _one_line_error(redone)
    assert "one.mp4" in redone.output and "is missing" in redone.output
    assert "two.mp4" in redone.output and "en -> ru" in redone.output
    assert "1 failed, 1 transcribed again; 0 predicted" in redone.output
    with db.session() as session:
        assert videos_q.get_transcript(session, video_id=two.id).language == "ru"
        assert videos_q.get_transcript(session, video_id=one.id).language == "en"
    db.dispose()
    skipped = _run("retranscribe", str(two.id))
    assert skipped.exit_code == 0 and "already written in ru" in skipped.output


# --- slow: a real `tagger ingest` process beside a moderator saving reviews --------------------


@pytest.mark.slow
def test_ingest_process_and_label_saves_share_the_database(settings: Settings, tmp_path):
    """The concurrent-writer proof: nothing is lost on either side."""
    sentences = [
        "The goalkeeper saved a penalty in the final minute.",
        "Tonight the orchestra plays a symphony by Brahms.",
        "Add the flour and stir the batter until smooth.",
    ]
    (tmp_path / "in").mkdir()
    for i, sentence in enumerate(sentences):
        audio = read_wav(speak_to_wav(sentence, tmp_path / f"s{i}.wav"))
        frames = [
            np.full((120, 160, 3), (60 * i + 5 * k) % 255, np.uint8)
            for k in range(audio.size // 1600)
        ]
        write_video(tmp_path / "in" / f"clip{i}.mp4", frames, 10, audio=audio)
    db = Database(settings.resolved_database_url)
    init_db(db)
    taxonomy = from_paths([["Sports"], ["Music"], ["Food"]])
    with db.session() as session:
        save_to_db(session, taxonomy)
        user = users_q.create_user(session, username="mod", password_hash="x")
        review_ids = [
            videos_q.create_video(session, title=f"queue {i}", status=VideoStatus.READY).id
            for i in range(5)
        ]
    tagger = Path(sys.executable).with_name("tagger")
    env = {**os.environ, "TAGGER_DATA_DIR": str(settings.data_dir), "TAGGER_NUM_KEYFRAMES": "4"}
    child = subprocess.Popen(
        [str(tagger), "ingest", str(tmp_path / "in")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    saved: dict[int, list[str]] = {}
    saves = 0
    while child.poll() is None or saves < 10:
        video_id = review_ids[saves % len(review_ids)]
        tags = [taxonomy.nodes[saves % 3].id]
        with db.session() as session:
            current = videos_q.get_video(session, video_id=video_id)
            review_rules.save_review(
                session,
                video_id=video_id,
                expected_version=current.version,
                node_ids=tags,
                user=user,
            )
        saved[video_id] = tags
        saves += 1
        time.sleep(0.05)
    output = child.stdout.read()
    assert child.returncode == 0, output
    assert "3 ready" in output

    with db.session() as session:
        assert review_rules.effective_labels(session, video_ids=review_ids) == saved
        assert (
            len(audit_q.list_audit(session, action=AuditAction.REVIEW_SAVED, limit=10_000)) == saves
        )
        ingested = [v for v in videos_q.list_videos(session) if v.id not in review_ids]
    assert len(ingested) == 3 and all(v.status == VideoStatus.READY for v in ingested)
    print(f"\n{saves} reviews saved while `tagger ingest` processed 3 videos")
    db.dispose()
