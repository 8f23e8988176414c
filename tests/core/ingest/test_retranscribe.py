"""`tagger retranscribe`: Whisper transcripts that an English-only model wrote of speech detected
afterwards as another language, transcribed again by a multilingual model (fakes here) with
only their embedding redone."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from core.config import Settings
from core.errors import TaggerError
from core.ingest import batch as ingest
from core.ingest import multilingual
from core.ingest.language_backfill import detect_languages
from core.ingest.multilingual import EnglishOnlyModelError
from core.ingest.pipeline import text_key
from core.ingest.retranscribe import RetranscribeOutcome, retranscribe
from core.lifecycle import prediction
from core.media.transcript import Segment
from core.retention import MEDIA_DELETED
from core.taxonomy import from_paths, save_to_db
from db.engine import Database, init_db
from db.queries import audit as audit_q
from db.queries import embeddings as embeddings_q
from db.queries import videos as videos_q
from db.tables import NO_SPEECH, AuditAction
from scripts.mediagen import read_wav, write_srt, write_video
from tests.support.fakes import (
    SPOKEN_TEXT,
    FakeEncoder,
    FakeTranscriber,
    RussianTranscriber,
    activate_stand_in_model,
)
from tests.support.retention import expire_media_of

SAMPLE_RATE = 16000
RUSSIAN_TEXT = "Привет, мир"  # what RussianTranscriber hears


def _clip(path: Path, shade: int, *, audio: bool = True) -> Path:
    """A 1 s mp4 with a tone (distinct shades, distinct bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    sound = (0.2 * np.sin(2 * np.pi * (300 + shade) * t)).astype(np.float32) if audio else None
    return write_video(path, [np.full((48, 64, 3), shade, np.uint8)] * 10, 10, audio=sound)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    settings.num_keyframes = 2
    database = Database(settings.resolved_database_url)
    init_db(database)
    yield database
    database.dispose()


@pytest.fixture
def encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def predicted(db: Database, monkeypatch) -> list[list[int]]:
    """The video ids handed to the active model after each ingest and retranscription (a stand-in
    version is active; none is trained here)."""
    activate_stand_in_model(db)
    calls: list[list[int]] = []

    def record(db, *, settings, video_ids):
        calls.append(list(video_ids))
        return len(video_ids)

    monkeypatch.setattr(prediction, "predict_with_active_model", record)
    return calls


@pytest.fixture
def ingested(db: Database, settings: Settings, encoder: FakeEncoder) -> Callable[..., int]:
    """Ingest one file with the fake encoder and an English-only fake speech model (like the
    default tiny.en), or ``transcriber``; its video id."""

    def run(path: Path, transcriber=None) -> int:
        [result] = ingest.ingest_paths(
            db,
            [path],
            settings=settings,
            encoder=encoder,
            transcriber=transcriber or FakeTranscriber(),
        ).results
        assert result.ok, result.reason
        return result.video_id

    return run


def _video(db: Database, video_id: int):
    with db.session() as session:
        return videos_q.get_video(session, video_id=video_id)


def _transcript(db: Database, video_id: int):
    with db.session() as session:
        return videos_q.get_transcript(session, video_id=video_id)


def _vectors(db: Database, video_id: int, encoder: FakeEncoder) -> dict[str, np.ndarray]:
    with db.session() as session:
        return embeddings_q.get_embeddings(
            session, video_ids=[video_id], encoder_id=encoder.id, encoder_version=encoder.version
        ).get(video_id, {})


def _notes(db: Database, video_id: int) -> list[dict]:
    return json.loads(_video(db, video_id).modality_notes_json)


def _audit(db: Database) -> list:
    with db.session() as session:
        return audit_q.list_audit(session, action=AuditAction.TRANSCRIPT_REDONE)


def _detected(db: Database, settings: Settings, transcriber=None) -> None:
    detect_languages(db, settings=settings, transcriber=transcriber or RussianTranscriber(0.9))


def test_an_english_only_transcript_of_russian_speech_is_redone_and_only_its_vector_changes(
    db, settings, ingested, encoder, predicted, tmp_path
):
    """A malformed sidecar replaced by the English-only model's transcript; after detection
    and retranscription, the video reads as a fresh ingest with the multilingual model."""
    clip = _clip(tmp_path / "old" / "talk.mp4", 60)
    (tmp_path / "old" / "talk.srt").write_text("no cues here\n")
    video_id = ingested(clip)
    _detected(db, settings)
    before = _vectors(db, video_id, encoder)
    assert set(before) == {"title", "frames", "audio", "subtitles"}
    assert _transcript(db, video_id).text == SPOKEN_TEXT
    encoder.items.clear()
    predicted.clear()

    transcriber = RussianTranscriber(0.9)
    report = retranscribe(db, settings=settings, transcriber=transcriber, encoder=encoder)

    [result] = report.results
    assert (result.video_id, result.outcome, result.previous, result.language) == (
        video_id,
        RetranscribeOutcome.REDONE,
        "en",
        "ru",
    )
    assert result.embedded and result.reason == ""
    assert transcriber.calls == 1 and transcriber.detections == 0
    stored = _transcript(db, video_id)
    assert (stored.text, stored.language, stored.source) == (RUSSIAN_TEXT, "ru", "whisper")
    assert json.loads(stored.segments_json) == [{"start": 0.0, "end": 0.5, "text": RUSSIAN_TEXT}]
    video = _video(db, video_id)
    assert (video.spoken_language, video.spoken_language_probability) == ("ru", 0.9)
    # only the transcript was encoded, and only its vector changed
    assert [item.subtitles for item in encoder.items] == [RUSSIAN_TEXT]
    assert encoder.encoded("frames") == encoder.encoded("audio") == encoder.encoded("title") == 0
    after = _vectors(db, video_id, encoder)
    assert set(after) == set(before)
    for modality in ("title", "frames", "audio"):
        np.testing.assert_array_equal(after[modality], before[modality])
    assert not np.array_equal(after["subtitles"], before["subtitles"])
    with db.session() as session:
        cached = embeddings_q.find_cached(
            session,
            modality="subtitles",
            encoder_id=encoder.id,
            encoder_version=encoder.version,
            input_hashes=[text_key(RUSSIAN_TEXT)],
        )
    np.testing.assert_array_equal(cached[text_key(RUSSIAN_TEXT)], after["subtitles"])
    # the notes of a fresh ingest with the multilingual model; the fallback note stays
    fresh = _clip(tmp_path / "new" / "talk.mp4", 90)
    (tmp_path / "new" / "talk.srt").write_text("no cues here\n")
    fresh_id = ingested(fresh, RussianTranscriber(0.9))
    assert _notes(db, video_id) == _notes(db, fresh_id)
    assert _notes(db, video_id)[0]["status"] == "fallback"
    assert not [n for n in _notes(db, video_id) if n["status"] == "warning"]
    [entry] = _audit(db)
    assert entry.video_id == video_id and entry.user_id is None
    assert json.loads(entry.detail_json) == {
        "language": "ru",
        "previous": "en",
        "model": "fake-whisper 1",
        "embedded": True,
    }
    assert predicted == [[video_id], [fresh_id]] and report.predicted == 1  # then the fresh one

    # done: --all finds nothing more, a named video says why, --force redoes it
    assert (
        retranscribe(db, settings=settings, transcriber=transcriber, encoder=encoder).results == []
    )
    [named] = retranscribe(
        db, settings=settings, video_ids=[video_id], transcriber=transcriber, encoder=encoder
    ).results
    assert named.outcome == RetranscribeOutcome.CURRENT
    assert named.reason == "already written in ru, the language spoken; --force transcribes again"
    assert transcriber.calls == 1
    forced = retranscribe(
        db, settings=settings, force=True, transcriber=transcriber, encoder=encoder
    )
    assert [(r.video_id, r.outcome) for r in forced.results] == [
        (video_id, RetranscribeOutcome.REDONE),
        (fresh_id, RetranscribeOutcome.REDONE),  # its multilingual transcript, too
    ]
    assert transcriber.calls == 3 and len(_audit(db)) == 3


def test_videos_with_nothing_to_redo_say_why_and_all_lists_only_work(
    db, settings, ingested, encoder, predicted, tmp_path
):
    captioned = _clip(tmp_path / "captioned.mp4", 20)
    write_srt([Segment(0.0, 0.8, "hello there")], tmp_path / "captioned.srt")
    captioned = ingested(captioned)
    english = ingested(_clip(tmp_path / "english.mp4", 40))
    unknown = ingested(_clip(tmp_path / "unknown.mp4", 60))
    hum = ingested(_clip(tmp_path / "hum.mp4", 80))
    silent = ingested(_clip(tmp_path / "silent.mp4", 100, audio=False))
    russian = ingested(_clip(tmp_path / "russian.mp4", 120))
    unsure = ingested(_clip(tmp_path / "unsure.mp4", 140))
    heard = (
        (captioned, "ru", None),
        (english, "en", None),
        (hum, NO_SPEECH, None),
        (russian, "ru", None),
        (unsure, "fi", 0.48),
    )
    with db.session() as session:  # as detect-language stores them; "unknown" not listened to
        for video_id, language, probability in heard:
            videos_q.set_spoken_language(
                session, video_id=video_id, language=language, probability=probability
            )
    transcriber = RussianTranscriber()
    predicted.clear()

    named = retranscribe(
        db,
        settings=settings,
        video_ids=[captioned, english, unknown, hum, silent, unsure],
        transcriber=transcriber,
        encoder=encoder,
    )

    reasons = {r.video_id: (r.outcome, r.reason) for r in named.results}
    skipped = RetranscribeOutcome.SKIPPED
    assert reasons == {
        captioned: (skipped, "its text comes from subtitles (provided), not speech"),
        english: (skipped, "English speech: the English transcript holds"),
        unknown: (
            skipped,
            "spoken language not known yet: run `tagger detect-language` first",
        ),
        hum: (skipped, "no speech heard in its audio"),
        silent: (skipped, "no transcript: the video has no audio"),
        unsure: (
            skipped,
            (
                "speech detected as fi only 48% sure, so its transcript may be right; --force"
                " transcribes again"
            ),
        ),
    }
    assert transcriber.calls == 0 and predicted == [] and named.failed == []
    everything = retranscribe(db, settings=settings, transcriber=transcriber, encoder=encoder)
    assert [(r.video_id, r.outcome) for r in everything.results] == [
        (russian, RetranscribeOutcome.REDONE),
        (unsure, RetranscribeOutcome.SKIPPED),
    ]
    [forced] = retranscribe(
        db,
        settings=settings,
        video_ids=[unsure],
        force=True,
        transcriber=transcriber,
        encoder=encoder,
    ).results
    assert forced.outcome == RetranscribeOutcome.REDONE


def test_an_english_only_model_is_refused_in_words_before_anything_is_read(
    db, settings, ingested, encoder, tmp_path, monkeypatch
):
    video_id = ingested(_clip(tmp_path / "a.mp4", 30))
    _detected(db, settings)
    before = _transcript(db, video_id).text

    def no_load(settings):
        raise AssertionError("the speech model was loaded")

    monkeypatch.setattr(multilingual, "load_transcriber", no_load)
    assert settings.whisper_model is None  # the default: the bundled tiny.en
    with pytest.raises(EnglishOnlyModelError) as refused:
        retranscribe(db, settings=settings, encoder=encoder)
    message = str(refused.value)
    assert isinstance(refused.value, TaggerError) and "\n" not in message
    assert "English-only and cannot transcribe other languages" in message
    with pytest.raises(EnglishOnlyModelError):  # a given model that says it is English-only
        retranscribe(db, settings=settings, transcriber=FakeTranscriber(), encoder=encoder)
    assert _transcript(db, video_id).text == before and _audit(db) == []


def test_failures_are_reported_in_words_with_nothing_written_and_the_rest_done(
    db, settings, ingested, encoder, predicted, tmp_path
):
    gone = ingested(_clip(tmp_path / "gone.mp4", 20))
    broken = ingested(_clip(tmp_path / "broken.mp4", 50))
    fine = ingested(_clip(tmp_path / "fine.mp4", 80))
    expired = ingested(_clip(tmp_path / "expired.mp4", 110))
    _detected(db, settings)
    (settings.data_dir / _video(db, gone).stored_path).unlink()
    expire_media_of(db, settings, expired)
    # a media file that no longer decodes
    (settings.data_dir / _video(db, broken).stored_path).write_bytes(b"\x00" * 64)
    predicted.clear()

    report = retranscribe(
        db,
        settings=settings,
        video_ids=[gone, broken, fine, expired, 999],
        transcriber=RussianTranscriber(),
        encoder=encoder,
    )

    outcomes = {r.video_id: (r.outcome, r.reason) for r in report.results}
    failed = RetranscribeOutcome.FAILED
    assert outcomes[gone][0] == failed and "is missing" in outcomes[gone][1]
    assert outcomes[broken][0] == failed and outcomes[broken][1].startswith("audio not readable:")
    assert outcomes[fine] == (RetranscribeOutcome.REDONE, "")
    assert outcomes[expired] == (failed, MEDIA_DELETED)
    assert outcomes[999] == (failed, "no such video")
    assert [r.video_id for r in report.failed] == [gone, broken, expired, 999]
    assert report.totals == {"failed": 4, "transcribed again": 1}
    for video_id in (gone, broken):
        assert _transcript(db, video_id).text == SPOKEN_TEXT
    assert predicted == [[fine]]


class _NoTranscriptVectors(FakeEncoder):
    def encode_batch(self, items):
        if any(item.subtitles == RUSSIAN_TEXT for item in items):
            raise RuntimeError("fake encoder bug on the transcript")
        return super().encode_batch(items)


def test_a_transcript_the_encoder_cannot_embed_fails_with_nothing_written(
    db, settings, predicted, tmp_path
):
    encoder = _NoTranscriptVectors()
    [ingested] = ingest.ingest_paths(
        db,
        [_clip(tmp_path / "a.mp4", 30)],
        settings=settings,
        encoder=encoder,
        transcriber=FakeTranscriber(),
    ).results
    _detected(db, settings)
    before = _vectors(db, ingested.video_id, encoder)
    predicted.clear()

    [result] = retranscribe(
        db, settings=settings, transcriber=RussianTranscriber(), encoder=encoder
    ).results

    assert result.outcome == RetranscribeOutcome.FAILED
    assert (
        result.reason == "transcript not embedded: RuntimeError: fake encoder bug on the transcript"
    )
    assert _transcript(db, ingested.video_id).text == SPOKEN_TEXT
    after = _vectors(db, ingested.video_id, encoder)
    np.testing.assert_array_equal(after["subtitles"], before["subtitles"])
    assert _audit(db) == [] and predicted == []


def test_copies_are_transcribed_once(db, settings, ingested, encoder, predicted, tmp_path):
    """A dataset row whose file has the same bytes as an ingested video is its own video."""
    first = ingested(_clip(tmp_path / "a.mp4", 30))
    with db.session() as session:
        save_to_db(session, from_paths([["Sports"]]))
    (tmp_path / "dataset" / "videos").mkdir(parents=True)
    shutil.copyfile(tmp_path / "a.mp4", tmp_path / "dataset" / "videos" / "row1.mp4")
    csv = tmp_path / "dataset" / "data.csv"
    csv.write_text("video_id,title,description,tags\nrow1,Another title,,\n")
    copy = ingested(csv)
    _detected(db, settings)
    transcriber = RussianTranscriber()
    predicted.clear()

    report = retranscribe(db, settings=settings, transcriber=transcriber, encoder=encoder)

    assert [(r.video_id, r.outcome) for r in report.results] == [
        (first, RetranscribeOutcome.REDONE),
        (copy, RetranscribeOutcome.REDONE),
    ]
    assert transcriber.calls == 1
    assert _transcript(db, copy).text == RUSSIAN_TEXT
    assert predicted == [[first, copy]]


def test_after_an_encoder_change_the_transcript_is_redone_and_embedded_by_ingest_again(
    db, settings, ingested, encoder, predicted, tmp_path
):
    """E.g. the lite audio embedding follows TAGGER_WHISPER_MODEL: no vectors of the new
    encoder exist yet, so none is written alone; ingesting the file again embeds every
    modality, the new transcript included."""
    clip = _clip(tmp_path / "a.mp4", 30)
    video_id = ingested(clip)
    _detected(db, settings)
    changed = FakeEncoder("v2")
    predicted.clear()

    [result] = retranscribe(
        db, settings=settings, transcriber=RussianTranscriber(), encoder=changed
    ).results

    assert (result.outcome, result.language, result.embedded) == (
        RetranscribeOutcome.REDONE,
        "ru",
        False,
    )
    assert "no embeddings of the configured encoder (fake)" in result.reason
    assert "ingest its file again" in result.reason
    assert _transcript(db, video_id).text == RUSSIAN_TEXT
    assert changed.items == [] and _vectors(db, video_id, changed) == {}
    assert json.loads(_audit(db)[0].detail_json)["embedded"] is False
    assert predicted == []

    unused = FakeTranscriber()
    [again] = ingest.ingest_paths(
        db, [clip], settings=settings, encoder=changed, transcriber=unused
    ).results
    assert again.video_id == video_id and unused.calls == 0
    vectors = _vectors(db, video_id, changed)
    assert set(vectors) == {"title", "frames", "audio", "subtitles"}
    [item] = changed.items
    assert item.subtitles == RUSSIAN_TEXT


@pytest.mark.slow
def test_multilingual_whisper_base_replaces_tiny_en_english_with_german(
    db, settings, encoder, predicted, whisper_base_dir, speech, tmp_path
):
    """German espeak-ng speech: the bundled tiny.en writes English words; Whisper base, once
    configured, detects German and writes it; only the transcript's vector changes."""
    from core.media.transcribe import FasterWhisperTranscriber

    sentence = "Guten Tag, heute sprechen wir über das Wetter in Berlin."
    german = read_wav(speech(sentence, "de", 175))
    frames = [np.full((48, 64, 3), 90, np.uint8)] * round(german.size / SAMPLE_RATE * 10)
    clip = write_video(tmp_path / "wetter.mp4", frames, 10, audio=german)
    tiny_en = FasterWhisperTranscriber(cpu_threads=1)  # the bundled default
    assert not tiny_en.multilingual
    [ingested] = ingest.ingest_paths(
        db, [clip], settings=settings, encoder=encoder, transcriber=tiny_en
    ).results
    video_id = ingested.video_id
    english = _transcript(db, video_id)
    assert english.language == "en" and english.text
    before = _vectors(db, video_id, encoder)
    predicted.clear()
    base = FasterWhisperTranscriber(whisper_base_dir, cpu_threads=1)
    detect_languages(db, settings=settings, transcriber=base)
    assert _video(db, video_id).spoken_language == "de"

    [result] = retranscribe(db, settings=settings, transcriber=base, encoder=encoder).results

    assert (result.outcome, result.previous, result.language) == (
        RetranscribeOutcome.REDONE,
        "en",
        "de",
    )
    german_text = _transcript(db, video_id)
    assert german_text.language == "de" and german_text.text != english.text
    words = set(re.findall(r"\w+", german_text.text.lower()))
    assert {"guten", "tag", "berlin"} <= words, german_text.text
    video = _video(db, video_id)
    assert video.spoken_language == "de" and video.spoken_language_probability > 0.5
    after = _vectors(db, video_id, encoder)
    assert set(after) == set(before) == {"title", "frames", "audio", "subtitles"}
    for modality in ("title", "frames", "audio"):
        np.testing.assert_array_equal(after[modality], before[modality])
    assert not np.array_equal(after["subtitles"], before["subtitles"])
    assert not [n for n in _notes(db, video_id) if n["status"] == "warning"]
    assert predicted == [[video_id]]
