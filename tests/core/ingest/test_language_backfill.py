"""`tagger detect-language`: the spoken language of videos ingested with an English-only model,
detected afterwards with the language detection ingest uses (fake multilingual models)."""

from __future__ import annotations

import json
import shutil
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from core.config import Settings
from core.errors import TaggerError
from core.ingest import batch as ingest
from core.ingest import language_backfill, multilingual
from core.ingest.language_backfill import LanguageOutcome, detect_languages
from core.ingest.multilingual import EnglishOnlyModelError
from core.ingest.pipeline import ModelLoadError
from core.media.transcript import Segment, SpokenLanguage
from core.retention import MEDIA_DELETED
from core.taxonomy import from_paths, save_to_db
from db.engine import Database, init_db
from db.queries import audit as audit_q
from db.queries import videos as videos_q
from db.tables import NO_SPEECH, AuditAction
from scripts.mediagen import read_wav, write_srt, write_video
from tests.support.fakes import FakeEncoder, FakeTranscriber, RussianTranscriber
from tests.support.retention import expire_media_of

SAMPLE_RATE = 16000


class GermanTranscriber(RussianTranscriber):
    """A multilingual model that hears German in any audio."""

    def __init__(self) -> None:
        super().__init__()
        self.spoken = SpokenLanguage("de", 0.7)


def _clip(path: Path, shade: int, *, audio: bool = True, **kwargs) -> Path:
    """A 1 s mp4 with a tone (distinct shades, distinct bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    sound = (0.2 * np.sin(2 * np.pi * (300 + shade) * t)).astype(np.float32) if audio else None
    frames = [np.full((48, 64, 3), shade, np.uint8)] * 10
    return write_video(path, frames, 10, audio=sound, **kwargs)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    settings.num_keyframes = 2
    database = Database(settings.resolved_database_url)
    init_db(database)
    yield database
    database.dispose()


@pytest.fixture
def ingested(db: Database, settings: Settings) -> Callable[..., int]:
    """Ingest one file with the fake encoder and an English-only fake speech model (as before
    schema v3, or with the default tiny.en), or ``transcriber``; its video id."""

    def run(path: Path, transcriber=None) -> int:
        [result] = ingest.ingest_paths(
            db,
            [path],
            settings=settings,
            encoder=FakeEncoder(),
            transcriber=transcriber or FakeTranscriber(),
        ).results
        assert result.ok, result.reason
        return result.video_id

    return run


def _video(db: Database, video_id: int):
    with db.session() as session:
        return videos_q.get_video(session, video_id=video_id)


def _notes(db: Database, video_id: int) -> list[dict]:
    return json.loads(_video(db, video_id).modality_notes_json)


def _details(db: Database, video_id: int, status: str) -> list[str]:
    return [
        f"{n['modality']}: {n['detail']}" for n in _notes(db, video_id) if n["status"] == status
    ]


def test_unknown_languages_are_detected_stored_and_the_notes_restated_as_by_ingest(
    db, settings, ingested, tmp_path
):
    """English subtitles over (fake) Russian speech, ingested with an English-only model: after
    the backfill its notes are those of a fresh ingest with the multilingual model."""
    captioned = _clip(tmp_path / "old" / "film.mp4", 40)
    write_srt([Segment(0.0, 0.8, "hello there")], tmp_path / "old" / "film.en.srt")
    video_id = ingested(captioned)
    assert _video(db, video_id).spoken_language is None
    assert any("English-only" in d for d in _details(db, video_id, "used"))

    transcriber = RussianTranscriber(0.93)
    report = detect_languages(db, settings=settings, transcriber=transcriber)

    assert [(r.video_id, r.outcome) for r in report.results] == [
        (video_id, LanguageOutcome.DETECTED)
    ]
    assert report.results[0].spoken == SpokenLanguage("ru", 0.93)
    assert (transcriber.calls, transcriber.detections) == (0, 1)  # detection alone
    video = _video(db, video_id)
    assert (video.spoken_language, video.spoken_language_probability) == ("ru", 0.93)
    fresh = _clip(tmp_path / "new" / "film.mp4", 90)  # built the same way, other bytes
    write_srt([Segment(0.0, 0.8, "hello there")], tmp_path / "new" / "film.en.srt")
    fresh_id = ingested(fresh, RussianTranscriber(0.93))
    assert _notes(db, video_id) == _notes(db, fresh_id)
    assert not any("English-only" in d for d in _details(db, video_id, "used"))
    mismatch = (
        "subtitles: subtitles are tagged en, speech detected as ru (93% sure): they may be a"
        " translation, or belong to another video"
    )
    assert _details(db, video_id, "warning") == [mismatch]
    [entry] = _audit(db)
    assert entry.video_id == video_id and entry.user_id is None
    assert json.loads(entry.detail_json) == {
        "language": "ru",
        "probability": 0.93,
        "previous": None,
        "model": "fake-whisper 1",
    }


def test_problems_noted_at_ingest_stay_and_an_english_only_transcript_gets_a_warning(
    db, settings, ingested, tmp_path
):
    """A malformed sidecar replaced by a Whisper transcript of the English-only model: its
    fallback note stays; the transcript, written as English over speech now detected as
    Russian, is flagged."""
    clip = _clip(tmp_path / "talk.mp4", 60)
    (tmp_path / "talk.srt").write_text("no cues here\n")
    video_id = ingested(clip)
    [fallback] = [n for n in _notes(db, video_id) if n["status"] != "used"]

    detect_languages(db, settings=settings, transcriber=RussianTranscriber(0.8))

    notes = _notes(db, video_id)
    assert notes[0] == {**fallback, "status": "fallback"}  # the transcript replaced it
    [subtitles] = _details(db, video_id, "used")[-1:]
    assert subtitles == (
        "subtitles: a transcript of the speech made by Whisper, spoken language ru (detected,"
        " 80% sure)"
    )
    flagged = (
        "subtitles: the transcript was written in en, speech detected as ru (80% sure): its words"
        " may be wrong (an English-only speech model writes every language as English words)"
    )
    assert _details(db, video_id, "warning") == [flagged]


def test_force_detects_known_languages_again(db, settings, ingested, tmp_path):
    first = ingested(_clip(tmp_path / "a.mp4", 30))
    second = ingested(_clip(tmp_path / "b.mp4", 70))
    detect_languages(db, settings=settings, transcriber=RussianTranscriber())

    again = GermanTranscriber()
    assert detect_languages(db, settings=settings, transcriber=again).results == []
    [named] = detect_languages(db, settings=settings, video_ids=[first], transcriber=again).results
    assert named.outcome == LanguageOutcome.SKIPPED and "--force" in named.reason
    assert again.detections == 0

    report = detect_languages(db, settings=settings, force=True, transcriber=again)
    assert [(r.video_id, r.outcome, r.previous) for r in report.results] == [
        (first, LanguageOutcome.DETECTED, "ru"),
        (second, LanguageOutcome.DETECTED, "ru"),
    ]
    assert again.detections == 2
    for video_id in (first, second):
        assert _video(db, video_id).spoken_language == "de"
        assert any(
            "spoken language de (detected, 70% sure)" in d for d in _details(db, video_id, "used")
        )
    assert len(_audit(db)) == 4


def test_an_english_only_model_is_refused_in_words_before_anything_is_read(
    db, settings, ingested, tmp_path, monkeypatch
):
    video_id = ingested(_clip(tmp_path / "a.mp4", 30))
    before = _notes(db, video_id)

    def no_load(settings):
        raise AssertionError("the speech model was loaded")

    monkeypatch.setattr(multilingual, "load_transcriber", no_load)
    assert settings.whisper_model is None  # the default: the bundled tiny.en
    with pytest.raises(EnglishOnlyModelError) as refused:
        detect_languages(db, settings=settings)
    message = str(refused.value)
    assert isinstance(refused.value, TaggerError) and "\n" not in message
    assert "English-only and cannot detect languages" in message
    assert "multilingual Whisper model" in message
    with pytest.raises(EnglishOnlyModelError):  # a loaded model that says it is English-only
        detect_languages(db, settings=settings, transcriber=FakeTranscriber())
    assert _video(db, video_id).spoken_language is None and _notes(db, video_id) == before
    assert _audit(db) == []


def test_a_speech_model_that_cannot_load_stops_the_backfill_in_words(
    db, settings, ingested, tmp_path, monkeypatch
):
    """A multilingual model on a device whose driver does not fit: one line, nothing changed."""
    video_id = ingested(_clip(tmp_path / "a.mp4", 30))
    before = _notes(db, video_id)

    def no_cuda(settings):
        raise RuntimeError("CUDA failed with error CUDA driver version is insufficient")

    monkeypatch.setattr(multilingual, "load_transcriber", no_cuda)
    monkeypatch.setattr(settings, "whisper_model", "base")  # multilingual: it would be loaded
    with pytest.raises(ModelLoadError) as stopped:
        detect_languages(db, settings=settings)
    assert str(stopped.value).startswith(
        "the speech model cannot be loaded: RuntimeError: CUDA failed with error CUDA driver"
    )
    assert _video(db, video_id).spoken_language is None and _notes(db, video_id) == before
    assert _audit(db) == []


def test_missing_media_and_silent_videos_are_reported_and_the_rest_done(
    db, settings, ingested, tmp_path
):
    gone = ingested(_clip(tmp_path / "gone.mp4", 20))
    silent = ingested(_clip(tmp_path / "silent.mp4", 50, audio=False))
    fine = ingested(_clip(tmp_path / "fine.mp4", 80))
    expired = ingested(_clip(tmp_path / "expired.mp4", 110))
    (settings.data_dir / _video(db, gone).stored_path).unlink()
    expire_media_of(db, settings, expired)

    transcriber = RussianTranscriber()
    report = detect_languages(
        db, settings=settings, video_ids=[gone, silent, fine, expired, 999], transcriber=transcriber
    )

    outcomes = {r.video_id: (r.outcome, r.reason) for r in report.results}
    assert outcomes[gone][0] == LanguageOutcome.FAILED and "is missing" in outcomes[gone][1]
    assert outcomes[silent] == (LanguageOutcome.SKIPPED, "no audio: there is no speech to detect")
    assert outcomes[fine] == (LanguageOutcome.DETECTED, "")
    assert outcomes[expired] == (LanguageOutcome.FAILED, MEDIA_DELETED)
    assert outcomes[999] == (LanguageOutcome.FAILED, "no such video")
    assert [r.video_id for r in report.failed] == [gone, expired, 999]
    assert report.totals == {"failed": 3, "skipped": 1, "detected": 1}
    assert _video(db, fine).spoken_language == "ru"
    assert _video(db, gone).spoken_language is None


class _HearsNoSpeech(RussianTranscriber):
    def detect_language(self, audio: np.ndarray) -> SpokenLanguage | None:
        self.detections += 1
        return None


def test_audio_without_speech_is_stored_as_such_and_not_listened_to_again(
    db, settings, ingested, tmp_path
):
    video_id = ingested(_clip(tmp_path / "hum.mp4", 30))
    deaf = _HearsNoSpeech()

    [first] = detect_languages(db, settings=settings, transcriber=deaf).results
    assert (first.outcome, first.reason) == (
        LanguageOutcome.NO_SPEECH,
        "no speech heard in the audio",
    )
    video = _video(db, video_id)
    assert (video.spoken_language, video.spoken_language_probability) == (NO_SPEECH, None)
    assert json.loads(_audit(db)[0].detail_json)["language"] == NO_SPEECH
    assert not any("zxx" in note["detail"] for note in _notes(db, video_id))

    assert detect_languages(db, settings=settings, transcriber=deaf).results == []
    [named] = detect_languages(
        db, settings=settings, video_ids=[video_id], transcriber=deaf
    ).results
    assert named.outcome == LanguageOutcome.SKIPPED and "--force listens again" in named.reason
    assert deaf.detections == 1

    [forced] = detect_languages(
        db, settings=settings, force=True, transcriber=RussianTranscriber()
    ).results
    assert (forced.outcome, forced.previous) == (LanguageOutcome.DETECTED, NO_SPEECH)
    assert _video(db, video_id).spoken_language == "ru"


def test_copies_are_listened_to_once(db, settings, ingested, tmp_path):
    """A dataset row whose file has the same bytes as an ingested video is its own video."""
    first = ingested(_clip(tmp_path / "a.mp4", 30))
    with db.session() as session:
        save_to_db(session, from_paths([["Sports"]]))
    (tmp_path / "dataset" / "videos").mkdir(parents=True)
    shutil.copyfile(tmp_path / "a.mp4", tmp_path / "dataset" / "videos" / "row1.mp4")
    csv = tmp_path / "dataset" / "data.csv"
    csv.write_text("video_id,title,description,tags\nrow1,Another title,,\n")
    copy = ingested(csv)
    assert copy != first
    transcriber = RussianTranscriber()
    report = detect_languages(db, settings=settings, transcriber=transcriber)
    assert [r.video_id for r in report.results] == [first, copy]
    assert transcriber.detections == 1
    assert _video(db, copy).spoken_language == "ru"


class _HearsSpeechAfterFiveMinutes(RussianTranscriber):
    """Hears speech only in audio longer than the first window (records each audio's length)."""

    def __init__(self) -> None:
        super().__init__()
        self.lengths: list[float] = []

    def detect_language(self, audio: np.ndarray) -> SpokenLanguage | None:
        self.lengths.append(audio.size / SAMPLE_RATE)
        return self.spoken if audio.size > language_backfill.WINDOW_SECONDS * SAMPLE_RATE else None


def test_only_the_first_window_is_decoded_unless_it_has_no_speech(tmp_path):
    """Like ingest, speech found only after the first 300 s still counts."""
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(bytes(2 * SAMPLE_RATE * (language_backfill.WINDOW_SECONDS + 20)))
    late = _HearsSpeechAfterFiveMinutes()
    assert language_backfill._listen(path, late) == late.spoken
    assert [round(s) for s in late.lengths] == [language_backfill.WINDOW_SECONDS, 320]
    early = RussianTranscriber()
    assert language_backfill._listen(path, early) == early.spoken and early.detections == 1


def _audit(db: Database) -> list:
    with db.session() as session:
        return audit_q.list_audit(session, action=AuditAction.LANGUAGE_DETECTED)


@pytest.mark.slow
def test_multilingual_whisper_base_detects_german_ingested_with_an_english_only_model(
    db, settings, ingested, whisper_base_dir, speech, tmp_path
):
    from core.media.transcribe import FasterWhisperTranscriber

    german = read_wav(speech("Guten Tag, heute sprechen wir über das Wetter in Berlin.", "de", 175))
    frames = [np.full((48, 64, 3), 90, np.uint8)] * round(german.size / SAMPLE_RATE * 10)
    video_id = ingested(write_video(tmp_path / "wetter.mp4", frames, 10, audio=german))

    report = detect_languages(
        db, settings=settings, transcriber=FasterWhisperTranscriber(whisper_base_dir, cpu_threads=1)
    )

    assert [r.outcome for r in report.results] == [LanguageOutcome.DETECTED]
    video = _video(db, video_id)
    assert video.spoken_language == "de" and video.spoken_language_probability > 0.5
    [warning] = _details(db, video_id, "warning")
    assert "the transcript was written in en, speech detected as de" in warning
