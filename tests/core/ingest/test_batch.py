"""Ingestion: caching, dedupe, failures, uploads (fast, fake encoder) and real media (slow)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from core import retention
from core.config import Settings
from core.ingest import batch as ingest
from core.ingest.pipeline import Pipeline
from core.media.transcript import Segment
from db.engine import Database, init_db
from db.queries import audit as audit_q
from db.queries import embeddings as embeddings_q
from db.queries import videos as videos_q
from db.tables import AuditAction, VideoStatus
from scripts.mediagen import read_wav, write_srt, write_video
from tests.support import slow_ingest
from tests.support.fakes import SPOKEN_TEXT, FakeEncoder, FakeTranscriber, RussianTranscriber
from tests.support.kill import ChildRun, never, run_and_kill
from tests.support.retention import expire_media_of

SAMPLE_RATE = 16000


def _tone(seconds: float, hz: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def make_clip(
    path: Path, shade: int, *, seconds: float = 1.0, audio: bool = True, **kwargs
) -> Path:
    """A small mp4 whose frames have brightness ``shade`` (distinct shades, distinct bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [np.full((48, 64, 3), shade, np.uint8) for _ in range(int(seconds * 10))]
    sound = _tone(seconds, 300 + shade) if audio else None
    return write_video(path, frames, 10, audio=sound, **kwargs)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    settings.num_keyframes = 4
    database = Database(settings.resolved_database_url)
    init_db(database)
    yield database
    database.dispose()


@pytest.fixture
def run(
    db: Database, settings: Settings, fake_encoder: FakeEncoder, fake_transcriber: FakeTranscriber
) -> Callable[..., ingest.IngestReport]:
    def run_ingest(*paths: Path, **kwargs) -> ingest.IngestReport:
        kwargs.setdefault("encoder", fake_encoder)
        kwargs.setdefault("transcriber", fake_transcriber)
        return ingest.ingest_paths(db, list(paths), settings=settings, **kwargs)

    return run_ingest


def _video(db: Database, video_id: int):
    with db.session() as session:
        return videos_q.get_video(session, video_id=video_id)


def test_folder_ingest_stores_everything(
    db, settings, run, fake_encoder, fake_transcriber, tmp_path
):
    folder = tmp_path / "in"
    make_clip(folder / "a.mp4", 40)
    make_clip(folder / "nested" / "b.mp4", 120)
    captioned = make_clip(folder / "c.mp4", 200)
    write_srt([Segment(0.0, 0.8, "captions from a file")], captioned.with_suffix(".srt"))
    (folder / "notes.txt").write_text("not a video")

    seen: list[tuple[int, int, str]] = []
    report = run(folder, progress=lambda done, total, name: seen.append((done, total, name)))

    assert report.totals == {"ready": 3, "skipped": 2}  # the .srt and the .txt, with reasons
    assert {r.name for r in report.results if r.status == "skipped"} == {"c.srt", "notes.txt"}
    assert seen[0] == (0, 3, "") and seen[-1][:2] == (3, 3)
    assert fake_transcriber.calls == 2  # c.mp4 has a sidecar: no speech-to-text for it
    by_name = {r.name: r for r in report.results}
    with db.session() as session:
        for name in ("a.mp4", "b.mp4", "c.mp4"):
            video = videos_q.get_video(session, video_id=by_name[name].video_id)
            assert video.status == VideoStatus.READY and video.title == Path(name).stem
            stored = settings.data_dir / video.stored_path
            assert (
                stored.parent == settings.media_dir and stored.name == f"{video.content_hash}.mp4"
            )
            keyframes = videos_q.get_keyframes(session, video_id=video.id)
            assert 1 <= len(keyframes) <= 4
            assert all((settings.data_dir / k.thumbnail_path).is_file() for k in keyframes)
            assert all(f"thumbnails/{video.content_hash}/" in k.thumbnail_path for k in keyframes)
            vectors = embeddings_q.get_embeddings(
                session, video_ids=[video.id], encoder_id="fake", encoder_version="v1"
            )[video.id]
            assert set(vectors) == {"title", "frames", "audio", "subtitles"}  # no description given
        transcript = videos_q.get_transcript(session, video_id=by_name["c.mp4"].video_id)
        assert transcript.source == "provided" and transcript.text == "captions from a file"
        assert json.loads(transcript.segments_json)[0]["text"] == "captions from a file"
        assert (
            videos_q.get_transcript(session, video_id=by_name["a.mp4"].video_id).source == "whisper"
        )


def test_reingest_hits_the_cache_without_decoding_or_encoding(
    db, run, fake_encoder, fake_transcriber, tmp_path, monkeypatch
):
    folder = tmp_path / "in"
    make_clip(folder / "a.mp4", 40)
    make_clip(folder / "b.mp4", 90)
    first = run(folder)
    assert first.totals == {"ready": 2}
    encoded, transcribed = len(fake_encoder.items), fake_transcriber.calls

    def no_decoding(*args, **kwargs):
        raise AssertionError("the cache must be checked before decoding")

    monkeypatch.setattr(ingest.media, "probe", no_decoding)
    monkeypatch.setattr(ingest.media, "sample_keyframes", no_decoding)
    again = run(folder)

    assert again.totals == {"duplicate": 2}
    assert {r.duplicate_of for r in again.results} == {r.video_id for r in first.results}
    assert (len(fake_encoder.items), fake_transcriber.calls) == (encoded, transcribed)
    assert _count_videos(db) == 2


def test_same_bytes_under_another_name_reuse_artifacts(db, settings, run, fake_encoder, tmp_path):
    original = make_clip(tmp_path / "in" / "a.mp4", 40)
    first = run(original)
    csv = tmp_path / "dataset" / "data.csv"
    (csv.parent / "videos").mkdir(parents=True)
    shutil.copyfile(original, csv.parent / "videos" / "copy1.mp4")
    csv.write_text("video_id,title,description,tags\ncopy1,A new title,,\n")
    _import_taxonomy(db)
    before = len(fake_encoder.items)

    report = run(csv)

    [result] = [r for r in report.results if r.name != "a.mp4"]
    assert result.status == VideoStatus.READY and result.duplicate_of == first.results[0].video_id
    new_items = fake_encoder.items[before:]
    assert [i.title for i in new_items] == ["A new title"]  # only the new text was encoded
    assert not new_items[0].frames and new_items[0].audio is None and not new_items[0].subtitles
    with db.session() as session:
        copy = videos_q.get_video(session, video_id=result.video_id)
        assert copy.content_hash == _video(db, first.results[0].video_id).content_hash
        assert not Path(
            copy.stored_path
        ).is_absolute()  # the copy in media_dir, not the user's file
        assert len(videos_q.get_keyframes(session, video_id=copy.id)) >= 1
        assert videos_q.get_transcript(session, video_id=copy.id).text == SPOKEN_TEXT
        vectors = embeddings_q.get_embeddings(
            session, video_ids=[copy.id], encoder_id="fake", encoder_version="v1"
        )
        assert set(vectors[copy.id]) == {"title", "frames", "audio", "subtitles"}


def test_same_bytes_twice_in_one_batch_are_processed_once(db, run, fake_encoder, tmp_path):
    original = make_clip(tmp_path / "in" / "a.mp4", 40)
    shutil.copyfile(original, tmp_path / "in" / "b.mp4")
    report = run(tmp_path / "in")
    assert sorted(r.status for r in report.results) == ["duplicate", "ready"]
    assert fake_encoder.encoded("frames") == 1 and _count_videos(db) == 1


def test_encoder_version_keys_the_cache(db, settings, run, tmp_path):
    v1 = FakeEncoder("v1")
    run(make_clip(tmp_path / "a" / "same title.mp4", 40), encoder=v1)
    v2 = FakeEncoder("v2")
    run(make_clip(tmp_path / "b" / "same title.mp4", 80), encoder=v2)
    assert v2.encoded("title") == 1  # v1's vector of the same text is not reused by v2
    v1_again = FakeEncoder("v1")
    run(make_clip(tmp_path / "c" / "same title.mp4", 160), encoder=v1_again)
    assert v1_again.encoded("title") == 0 and v1_again.encoded("frames") == 1
    with db.session() as session:
        assert (
            embeddings_q.count_embeddings(session, encoder_id="fake", encoder_version="v1")["title"]
            == 2
        )
        assert (
            embeddings_q.count_embeddings(session, encoder_id="fake", encoder_version="v2")["title"]
            == 1
        )


def test_new_encoder_version_reembeds_processed_videos_keeping_status(
    db, run, fake_transcriber, tmp_path
):
    clip = make_clip(tmp_path / "in" / "a.mp4", 40)
    [first] = run(clip, encoder=FakeEncoder("v1")).results
    transcribed = fake_transcriber.calls
    v2 = FakeEncoder("v2")

    [again] = run(clip, encoder=v2).results

    assert again.video_id == first.video_id and again.status == VideoStatus.READY
    assert v2.encoded("frames") == 1 and fake_transcriber.calls == transcribed  # transcript reused
    with db.session() as session:
        for version in ("v1", "v2"):
            stored = embeddings_q.get_embeddings(
                session, video_ids=[first.video_id], encoder_id="fake", encoder_version=version
            )
            assert set(stored[first.video_id]) == {"title", "frames", "audio", "subtitles"}


def test_a_video_whose_media_expired_keeps_its_results_when_a_new_encoder_comes(
    db, settings, run, fake_transcriber, tmp_path
):
    """Media retention deleted a reviewed video's file: a new encoder's pass over the stored
    videos cannot encode it, says so, and leaves the video reviewed with what it had; the same
    bytes ingested again bring the media back (audited), and then it is encoded."""
    clip = make_clip(tmp_path / "in" / "a.mp4", 40)
    [first] = run(clip, encoder=FakeEncoder("v1")).results
    expire_media_of(db, settings, first.video_id)
    v2 = Pipeline(db, settings, encoder=FakeEncoder("v2"), transcriber=fake_transcriber)

    [again] = v2.run([first.video_id], {}, None)

    assert (again.status, again.reason) == (VideoStatus.FAILED, retention.MEDIA_DELETED)
    assert _video(db, first.video_id).status == VideoStatus.REVIEWED

    [back] = run(clip, encoder=FakeEncoder("v2")).results

    assert back.video_id == first.video_id and back.status == VideoStatus.REVIEWED
    video = _video(db, first.video_id)
    assert video.media_deleted_at is None and (settings.data_dir / video.stored_path).is_file()
    with db.session() as session:
        [restored] = audit_q.list_audit(session, action=AuditAction.MEDIA_RESTORED)
        stored = embeddings_q.get_embeddings(
            session, video_ids=[first.video_id], encoder_id="fake", encoder_version="v2"
        )
    assert restored.video_id == first.video_id and "frames" in stored[first.video_id]


def test_bad_files_fail_alone_with_reasons(db, run, tmp_path):
    folder = tmp_path / "in"
    make_clip(folder / "good.mp4", 40)
    (folder / "garbage.mp4").write_bytes(os.urandom(4096))
    (folder / "empty.mkv").write_bytes(b"")

    report = run(folder, tmp_path / "missing.mp4")

    statuses = {r.name: r.status for r in report.results}
    assert statuses == {
        "good.mp4": "ready",
        "garbage.mp4": "failed",
        "empty.mkv": "failed",
        "missing.mp4": "failed",
    }
    garbage = next(r for r in report.results if r.name == "garbage.mp4")
    video = _video(db, garbage.video_id)
    assert video.status == VideoStatus.FAILED and video.error == garbage.reason
    assert "\n" not in video.error and "media" in video.error.lower()
    assert "no such file" in next(r for r in report.results if r.name == "missing.mp4").reason


def test_unexpected_error_is_recorded_logged_and_the_batch_goes_on(db, run, tmp_path, caplog):
    folder = tmp_path / "in"
    for i, name in enumerate(["one", "boom", "three"]):
        make_clip(folder / f"{name}.mp4", 40 + 60 * i)
    with caplog.at_level(logging.ERROR, logger="core.ingest.pipeline"):
        report = run(folder, encoder=FakeEncoder(fail_title="boom"))

    statuses = {r.name: r.status for r in report.results}
    assert statuses == {"one.mp4": "ready", "boom.mp4": "failed", "three.mp4": "ready"}
    failed = report.failed[0]
    assert failed.reason.startswith("RuntimeError: fake encoder bug")
    assert _video(db, failed.video_id).error == failed.reason
    assert any(record.exc_info for record in caplog.records)  # the traceback is visible


@pytest.mark.parametrize("model", ["speech model", "encoder"])
def test_a_model_that_cannot_load_stops_the_job_and_fails_no_video(
    db, run, settings, fake_encoder, fake_transcriber, tmp_path, monkeypatch, model
):
    """TAGGER_DEVICE=cuda on a machine whose driver or libraries do not fit: every video used to
    be marked failed with CTranslate2's words, one by one. Now the job stops with them, and the
    same command run again with the setting fixed ingests everything."""
    from core.ingest import pipeline

    def no_cuda(_settings):
        raise RuntimeError("CUDA failed with error CUDA driver version is insufficient")

    for i in range(3):
        make_clip(tmp_path / "in" / f"clip{i}.mp4", 40 + 60 * i)
    loader = "load_transcriber" if model == "speech model" else "load_encoder"
    monkeypatch.setattr(pipeline, loader, no_cuda)
    loaded = {"encoder": None} if model == "encoder" else {"transcriber": None}
    with pytest.raises(pipeline.ModelLoadError) as stopped:
        run(tmp_path / "in", **loaded)
    assert str(stopped.value).startswith(
        f"the {model} cannot be loaded: RuntimeError: CUDA failed with error CUDA driver"
    )
    assert "run the same command again" in str(stopped.value)
    with db.session() as session:
        statuses = [v.status for v in videos_q.list_videos(session)]
    assert len(statuses) == 3 and VideoStatus.FAILED not in statuses

    monkeypatch.undo()
    again = run(tmp_path / "in")
    assert sorted(r.status for r in again.results) == ["ready"] * 3


def test_an_unusable_embedding_fails_only_its_video(db, run, tmp_path):
    make_clip(tmp_path / "in" / "fine.mp4", 40)
    make_clip(tmp_path / "in" / "nan.mp4", 140)
    report = run(tmp_path / "in", encoder=FakeEncoder(nan_title="nan"))
    assert {r.name: r.status for r in report.results} == {"fine.mp4": "ready", "nan.mp4": "failed"}
    assert "frames embedding is not a finite" in report.failed[0].reason


def test_embedded_subtitles_are_used_instead_of_whisper(db, run, fake_transcriber, tmp_path):
    clip = make_clip(tmp_path / "sub.mp4", 70, subtitles=[Segment(0.1, 0.9, "embedded words")])
    [result] = run(clip).results
    assert fake_transcriber.calls == 0
    with db.session() as session:
        transcript = videos_q.get_transcript(session, video_id=result.video_id)
    assert transcript.source == "embedded" and transcript.text == "embedded words"


def test_video_without_audio_has_no_audio_or_subtitles(db, run, fake_transcriber, tmp_path):
    [result] = run(make_clip(tmp_path / "silent.mp4", 70, audio=False)).results
    assert result.status == VideoStatus.READY and fake_transcriber.calls == 0
    with db.session() as session:
        vectors = embeddings_q.get_embeddings(
            session, video_ids=[result.video_id], encoder_id="fake", encoder_version="v1"
        )
    assert set(vectors[result.video_id]) == {"title", "frames"}


def test_detected_spoken_language_is_stored_explained_and_reused(db, run, tmp_path):
    transcriber = RussianTranscriber()
    first = run(make_clip(tmp_path / "in" / "a.mp4", 50), transcriber=transcriber)
    shutil.copyfile(tmp_path / "in" / "a.mp4", tmp_path / "copy.mp4")
    copy = run(tmp_path / "copy.mp4", transcriber=transcriber)
    assert transcriber.calls == 1  # the copy reuses the first video's transcript
    for result in (first.results[0], copy.results[0]):
        video = _video(db, result.video_id)
        assert (video.spoken_language, video.spoken_language_probability) == ("ru", 0.8)
    notes = json.loads(_video(db, first.results[0].video_id).modality_notes_json)
    [subtitles] = [n for n in notes if n["modality"] == "subtitles"]
    assert "spoken language ru (detected, 80% sure)" in subtitles["detail"]


def _notes(db: Database, video_id: int, status: str) -> list[str]:
    notes = json.loads(_video(db, video_id).modality_notes_json)
    return [f"{n['modality']}: {n['detail']}" for n in notes if n["status"] == status]


def test_spoken_language_under_tagged_subtitles_is_detected_and_a_mismatch_noted(db, run, tmp_path):
    """Provided English subtitles over Russian speech: no transcription, the language is
    detected on the audio, stored like a transcription's and the mismatch is put in words."""
    transcriber = RussianTranscriber(0.93)
    clip = make_clip(tmp_path / "in" / "film.mp4", 50)
    write_srt([Segment(0.0, 0.8, "hello there")], tmp_path / "in" / "film.en.srt")
    [result] = run(clip, transcriber=transcriber).results
    assert (transcriber.calls, transcriber.detections) == (0, 1)
    video = _video(db, result.video_id)
    assert (video.spoken_language, video.spoken_language_probability) == ("ru", 0.93)
    with db.session() as session:
        assert videos_q.get_transcript(session, video_id=video.id).source == "provided"
    [used] = [n for n in _notes(db, video.id, "used") if n.startswith("subtitles")]
    assert "language en, spoken language ru (detected in the audio, 93% sure)" in used
    mismatch = (
        "subtitles: subtitles are tagged en, speech detected as ru (93% sure): they may be a"
        " translation, or belong to another video"
    )
    assert _notes(db, video.id, "warning") == [mismatch]
    shutil.copyfile(clip, tmp_path / "copy.mp4")  # same audio: its language is reused
    [copy] = run(tmp_path / "copy.mp4", transcriber=transcriber).results
    assert transcriber.detections == 1
    assert _video(db, copy.video_id).spoken_language == "ru"


def test_embedded_track_in_the_spoken_language_gets_no_warning(db, run, tmp_path):
    """An ISO 639-2 stream tag ("rus") and Whisper's "ru" name the same language."""
    transcriber = RussianTranscriber()
    cues = [Segment(0.1, 0.9, "Привет")]
    clip = make_clip(tmp_path / "ru.mp4", 70, subtitles=cues, subtitle_language="rus")
    [result] = run(clip, transcriber=transcriber).results
    assert (transcriber.calls, transcriber.detections) == (0, 1)
    assert _video(db, result.video_id).spoken_language == "ru"
    assert _notes(db, result.video_id, "warning") == []


def test_subtitles_without_audio_or_with_an_english_only_model_detect_nothing(
    db, run, fake_transcriber, tmp_path
):
    english_only = make_clip(tmp_path / "a.mp4", 80)
    write_srt([Segment(0.0, 0.8, "words")], tmp_path / "a.ru.srt")
    [result] = run(english_only).results  # the fake is English-only
    assert _video(db, result.video_id).spoken_language is None
    assert "audio: spoken language not detected: the speech model is English-only" in " ".join(
        _notes(db, result.video_id, "used")
    )
    transcriber = RussianTranscriber()
    silent = make_clip(tmp_path / "b.mp4", 90, audio=False, subtitles=[Segment(0, 1, "words")])
    [result] = run(silent, transcriber=transcriber).results
    assert transcriber.detections == 0 and _video(db, result.video_id).spoken_language is None


def test_subtitles_need_no_speech_model_when_the_settings_show_it_english_only(
    db, run, settings, monkeypatch, tmp_path
):
    """With the default tiny.en and subtitles, the model would only say that it cannot tell
    the language: it is not loaded for that (ImageBind needs no Whisper otherwise)."""
    from core.ingest import pipeline

    def no_load(settings):
        raise AssertionError("the speech model was loaded")

    monkeypatch.setattr(pipeline, "load_transcriber", no_load)
    assert settings.whisper_model is None  # the bundled English-only tiny.en
    clip = make_clip(tmp_path / "a.mp4", 80)
    write_srt([Segment(0.0, 0.8, "words")], tmp_path / "a.ru.srt")
    [result] = run(clip, transcriber=None).results
    assert result.status == VideoStatus.READY, result.reason
    assert "audio: spoken language not detected: the speech model is English-only" in " ".join(
        _notes(db, result.video_id, "used")
    )
    monkeypatch.setattr(settings, "whisper_model", "base")  # multilingual: it is loaded
    clip = make_clip(tmp_path / "b.mp4", 90)
    write_srt([Segment(0.0, 0.8, "words")], tmp_path / "b.ru.srt")
    with pytest.raises(pipeline.ModelLoadError, match="the speech model was loaded"):
        run(clip, transcriber=None)


def test_english_only_model_stores_no_spoken_language(db, run, tmp_path):
    report = run(make_clip(tmp_path / "in" / "a.mp4", 60))  # the fake is English-only
    video = _video(db, report.results[0].video_id)
    assert video.spoken_language is None and video.spoken_language_probability is None
    [subtitles] = [n for n in json.loads(video.modality_notes_json) if n["modality"] == "subtitles"]
    assert "English-only" in subtitles["detail"]


@pytest.mark.slow
def test_multilingual_whisper_base_stores_german(db, run, whisper_base_dir, speech, tmp_path):
    from core.media.transcribe import FasterWhisperTranscriber

    german = read_wav(speech("Guten Tag, heute sprechen wir über das Wetter in Berlin.", "de", 175))
    frames = [np.full((48, 64, 3), 70, np.uint8)] * round(german.size / SAMPLE_RATE * 10)
    clip = write_video(tmp_path / "wetter.mp4", frames, 10, audio=german)
    report = run(clip, transcriber=FasterWhisperTranscriber(whisper_base_dir, cpu_threads=1))
    video = _video(db, report.results[0].video_id)
    assert video.spoken_language == "de" and video.spoken_language_probability > 0.5
    with db.session() as session:
        assert "Berlin" in videos_q.get_transcript(session, video_id=video.id).text


@pytest.mark.slow
def test_multilingual_whisper_base_hears_german_under_english_subtitles(
    db, run, whisper_base_dir, speech, tmp_path
):
    from core.media.transcribe import FasterWhisperTranscriber

    german = read_wav(speech("Guten Tag, heute sprechen wir über das Wetter in Berlin.", "de", 175))
    frames = [np.full((48, 64, 3), 90, np.uint8)] * round(german.size / SAMPLE_RATE * 10)
    clip = write_video(tmp_path / "wetter.mp4", frames, 10, audio=german)
    write_srt([Segment(0.0, 2.0, "Good day, the weather in Berlin")], tmp_path / "wetter.en.srt")
    report = run(clip, transcriber=FasterWhisperTranscriber(whisper_base_dir, cpu_threads=1))
    video = _video(db, report.results[0].video_id)
    assert video.spoken_language == "de" and video.spoken_language_probability > 0.5
    [warning] = _notes(db, video.id, "warning")
    assert "subtitles are tagged en, speech detected as de" in warning


def test_without_an_active_model_ingest_leaves_the_prediction_code_unloaded(
    run, tmp_path, monkeypatch
):
    """It imports torch, which a Ray driver would load for nothing on a fresh install."""
    import core.lifecycle

    monkeypatch.delattr(core.lifecycle, "prediction", raising=False)
    monkeypatch.setitem(sys.modules, "core.lifecycle.prediction", None)  # importing it raises
    report = run(make_clip(tmp_path / "a.mp4", 40))
    assert report.predicted == 0 and [r.status for r in report.results] == [VideoStatus.READY]


def test_pending_dataset_video_without_media_is_skipped(db, run, tmp_path):
    _import_taxonomy(db)
    csv = tmp_path / "data.csv"
    csv.write_text("video_id,title,description,tags\nv9,Some title,Some text,Sports\n")
    report = run(csv)
    [result] = report.results
    assert result.status == ingest.SKIPPED and "v9" in result.reason
    assert _video(db, result.video_id).status == VideoStatus.NEW


def test_upload_is_validated_before_anything_is_stored(
    db, settings, fake_encoder, fake_transcriber, tmp_path
):
    def upload(data: bytes, name: str = "clip.mp4") -> ingest.IngestResult:
        return ingest.ingest_upload(
            db,
            data=data,
            filename=name,
            title="Uploaded",
            description="desc",
            settings=settings,
            user=None,
            encoder=fake_encoder,
            transcriber=fake_transcriber,
        )

    settings.max_upload_mb = 1
    with pytest.raises(ingest.UploadRejected, match="1 MB"):
        upload(b"x" * (1024 * 1024 + 1))
    with pytest.raises(ingest.UploadRejected, match="clip.mp4"):
        upload(os.urandom(2048))
    assert _count_videos(db) == 0 and not [p for p in settings.media_dir.iterdir()]

    good = make_clip(tmp_path / "up.mp4", 130).read_bytes()
    result = upload(good, name="../../evil name.MP4")
    video = _video(db, result.video_id)
    assert (
        result.status == VideoStatus.READY
        and video.title == "Uploaded"
        and video.description == "desc"
    )
    assert (settings.data_dir / video.stored_path).parent == settings.media_dir
    assert video.stored_path.endswith(".mp4") and "evil" not in video.stored_path

    again = upload(good)
    assert again.status == ingest.DUPLICATE and again.duplicate_of == result.video_id


def _import_taxonomy(db: Database) -> None:
    from core.taxonomy import from_paths, save_to_db

    with db.session() as session:
        save_to_db(session, from_paths([["Sports"], ["Sports", "Soccer"], ["Music"]]))


def _count_videos(db: Database) -> int:
    with db.session() as session:
        return videos_q.count_videos(session)


# --- slow: subprocesses and real models ---------------------------------------------------------


@pytest.mark.slow
def test_sigkill_mid_batch_then_rerun_loses_and_repeats_nothing(db, settings, tmp_path):
    folder = tmp_path / "in"
    names = [f"clip{i}" for i in range(8)]
    for i, name in enumerate(names):
        make_clip(folder / f"{name}.mp4", 20 + 25 * i, audio=False)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    env = {**os.environ, "TAGGER_DATA_DIR": str(settings.data_dir)}

    def one_video_ready(run: ChildRun) -> bool:
        with db.session() as session:
            return videos_q.count_videos_by_status(session).get(VideoStatus.READY, 0) >= 1

    first = run_and_kill(
        slow_ingest.command(folder, first_log), env, kill_when=one_video_ready, timeout_s=120
    )
    assert first.killed and not first.acks, "the first run finished before it could be killed"
    with db.session() as session:
        done_before = {v.title for v in videos_q.list_videos(session, statuses=[VideoStatus.READY])}
        interrupted = videos_q.list_videos(session, statuses=[VideoStatus.PROCESSING])
    assert done_before and interrupted  # killed mid-batch: some finished, some in progress

    rerun = run_and_kill(
        slow_ingest.command(folder, second_log), env, kill_when=never, timeout_s=300
    )
    assert rerun.acks

    with db.session() as session:
        videos = videos_q.list_videos(session)
    assert sorted(v.title for v in videos) == names  # nothing lost, no duplicate rows
    assert all(v.status == VideoStatus.READY for v in videos)
    encoded_again = set(second_log.read_text().split())
    assert not encoded_again & done_before  # finished videos were not redone
    assert encoded_again == set(names) - done_before
    leftovers = [p.name for p in settings.media_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == [] or all(p.startswith(".incoming-") for p in leftovers)


@pytest.fixture(scope="module")
def real_models():
    """The real lite encoder and faster-whisper tiny.en (bundled, offline)."""
    from core.config import Settings
    from core.encoders import load_encoder
    from core.media.transcribe import load_transcriber

    plain = Settings(data_dir=Path("unused"))
    return load_encoder(plain), load_transcriber(plain)


@pytest.mark.slow
def test_real_media_through_real_models(db, settings, real_models, bigbuckbunny, speech, tmp_path):
    encoder, transcriber = real_models
    speech_wav = speech("The football match ended with a late goal for the home team.")
    (tmp_path / "in").mkdir()
    write_video(
        tmp_path / "in" / "talk.mp4",
        [np.full((96, 128, 3), 90, np.uint8)] * 40,
        10,
        audio=read_wav(speech_wav),
    )
    shutil.copyfile(bigbuckbunny, tmp_path / "in" / "bunny.mp4")

    cold = ingest.ingest_paths(
        db, [tmp_path / "in"], settings=settings, encoder=encoder, transcriber=transcriber
    )
    assert cold.totals == {"ready": 2}, cold.results
    with db.session() as session:
        talk_id = next(r.video_id for r in cold.results if r.name == "talk.mp4")
        transcript = videos_q.get_transcript(session, video_id=talk_id)
        vectors = embeddings_q.get_embeddings(
            session, video_ids=[talk_id], encoder_id=encoder.id, encoder_version=encoder.version
        )[talk_id]
    assert "goal" in transcript.text.lower()
    assert {m: v.shape[0] for m, v in vectors.items()} == {m: encoder.dims[m] for m in vectors}
    assert {"title", "frames", "audio", "subtitles"} <= set(vectors)

    warm = ingest.ingest_paths(
        db, [tmp_path / "in"], settings=settings, encoder=encoder, transcriber=transcriber
    )
    assert warm.totals == {"duplicate": 2}
    print(
        f"\ncold: {cold.video_seconds:.1f} s of video in {cold.wall_seconds:.2f} s; "
        f"cached: {warm.wall_seconds:.3f} s"
    )
