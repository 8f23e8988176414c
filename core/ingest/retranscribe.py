"""``tagger retranscribe``: Whisper transcripts of non-English speech written again by a
multilingual model, e.g. the English words that the default tiny.en wrote for German speech
that ``tagger detect-language`` found afterwards.

Ingest reuses a stored transcript when the same file comes again, so this is the way to redo
one. Per video the stored media's audio is transcribed as ingest transcribes it
(:meth:`Transcriber.transcribe`, once per identical file) and the transcript is stored the way
ingest stores one. Only the subtitles modality is embedded again, with the configured encoder.
Its cache key is the transcript text's, so the old vector is not reused; the other modalities'
vectors stay. The spoken language heard while transcribing is stored, the modality notes are
stated anew (:func:`core.ingest.notes.restated`), each video is audited (``transcript_redone``),
and the active model predicts the changed videos, as after ingest.

A video may have no embeddings of the configured encoder: the encoder changed since ingest,
e.g. the lite audio embedding follows ``TAGGER_WHISPER_MODEL``. It gets its new transcript
alone, and ingesting its file again embeds it, new transcript included.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

import numpy as np
from sqlmodel import Session

from core.config import Settings
from core.encoders import Encoder, EncoderInput, encoder_cache_key, load_encoder
from core.ingest.multilingual import MultilingualModel
from core.ingest.notes import restated, same_language, used_notes
from core.ingest.pipeline import (
    INPUT_ERRORS,
    EmbeddingError,
    ProgressCallback,
    check_vectors,
    encode_items,
    reason_of,
    text_key,
)
from core.ingest.stored import (
    DONE_STATUSES,
    MediaJob,
    OutcomeReport,
    read_stored,
    stored_media,
    video_name,
    write_spoken_language,
    write_transcript,
)
from core.media import decode as media
from core.media.transcribe import Transcriber
from core.media.transcript import Transcript
from db.engine import Database
from db.queries import audit as audit_q
from db.queries import embeddings as embeddings_q
from db.queries import videos as videos_q
from db.tables import NO_SPEECH, AuditAction, TranscriptSource, Video

PAGE_SIZE = 64  # videos read per database session
ENGLISH = "en"
MODALITY = "subtitles"  # the transcript's modality
# Below this confidence the detected language is too often wrong to overwrite a transcript
# for it: on short espeak-ng clips Whisper base heard English as Finnish (48 %) and Russian as
# Polish (39 %), German as German at 82-84 % (README "Languages"); --force redoes them anyway.
MIN_PROBABILITY = 0.5


class RetranscribeOutcome(StrEnum):
    REDONE = "transcribed again"
    CURRENT = "up to date"  # written in the language spoken already (--all leaves it out)
    SKIPPED = "skipped"  # nothing to redo (subtitles, English speech, language not known, ...)
    FAILED = "failed"  # media gone or unreadable, transcript not embeddable


@dataclass(frozen=True)
class RetranscribeResult:
    """What happened to one video; ``reason`` says why in words when nothing was redone, or
    why a redone transcript was not embedded (``embedded`` False)."""

    video_id: int
    name: str
    outcome: RetranscribeOutcome
    previous: str | None = None  # the language the old transcript was written in
    language: str | None = None  # the new transcript's
    embedded: bool = False
    reason: str = ""


@dataclass
class RetranscribeReport(OutcomeReport[RetranscribeResult]):
    predicted: int = 0  # videos the active model predicted again afterwards


def retranscribe(
    db: Database,
    *,
    settings: Settings,
    video_ids: Sequence[int] | None = None,
    force: bool = False,
    transcriber: Transcriber | None = None,
    encoder: Encoder | None = None,
    progress: ProgressCallback | None = None,
) -> RetranscribeReport:
    """Transcribe again the Whisper transcripts of ``video_ids`` whose speech was detected as
    another language than English, at least ``MIN_PROBABILITY`` sure, and that are written in
    another language than the one spoken (an English-only model's); ``force``: whatever the
    confidence, and also those already written in it (e.g. after configuring a larger model).
    None: every processed video with a Whisper transcript of non-English speech; those up to
    date are left out of the report.

    Raises :class:`core.ingest.multilingual.EnglishOnlyModelError` before anything is read
    when the speech model is English-only (the default tiny.en).
    """
    model = MultilingualModel(settings, transcriber, cannot="transcribe other languages")
    embedding = _Embedding(settings, encoder)
    with db.session() as session:
        if video_ids is None:
            ids = videos_q.list_transcribed_speech_ids(
                session,
                statuses=sorted(DONE_STATUSES),
                source=TranscriptSource.WHISPER,
                other_than=[ENGLISH, NO_SPEECH],
            )
        else:
            ids = list(dict.fromkeys(video_ids))
    report = RetranscribeReport()
    heard: dict[str, Transcript] = {}  # content hash -> new transcript (same bytes, same words)
    if progress is not None:
        progress(0, len(ids), "")
    for start in range(0, len(ids), PAGE_SIZE):
        page = ids[start : start + PAGE_SIZE]
        with db.session() as session:
            found = {v.id: v for v in videos_q.get_videos(session, video_ids=page)}
            planned = [
                _plan(session, found[i], settings, force=force)
                if i in found
                else RetranscribeResult(
                    i, f"video {i}", RetranscribeOutcome.FAILED, reason="no such video"
                )
                for i in page
            ]
        for index, job in enumerate(planned):
            result = _redo(db, job, model, embedding, heard) if isinstance(job, MediaJob) else job
            if video_ids is not None or result.outcome != RetranscribeOutcome.CURRENT:
                report.results.append(result)
            if progress is not None:
                progress(start + index + 1, len(ids), result.name)
    changed = [r.video_id for r in report.results if r.embedded]
    if changed:
        from core.lifecycle import prediction  # torch and the classifier: only when needed

        report.predicted = prediction.predict_with_active_model(
            db, settings=settings, video_ids=changed
        )
    return report


class _Embedding:
    """The configured encoder's cache key, and the encoder itself loaded only on a cache miss."""

    def __init__(self, settings: Settings, encoder: Encoder | None) -> None:
        self._settings = settings
        self._encoder = encoder
        self.key = encoder.cache_key if encoder is not None else encoder_cache_key(settings)

    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_encoder(self._settings)
        return self._encoder


def _plan(
    session: Session, video: Video, settings: Settings, *, force: bool
) -> MediaJob | RetranscribeResult:
    """The video's job, or why there is nothing to transcribe again."""

    def result(outcome: RetranscribeOutcome, reason: str) -> RetranscribeResult:
        previous = row.language if row is not None else None
        return RetranscribeResult(video.id, video_name(video), outcome, previous, reason=reason)

    row = videos_q.get_transcript(session, video_id=video.id)
    spoken = video.spoken_language
    if video.status not in DONE_STATUSES:
        return result(RetranscribeOutcome.SKIPPED, f"not processed (status {video.status})")
    if row is None or not video.has_audio:
        return result(RetranscribeOutcome.SKIPPED, "no transcript: the video has no audio")
    if row.source != TranscriptSource.WHISPER:
        return result(
            RetranscribeOutcome.SKIPPED, f"its text comes from subtitles ({row.source}), not speech"
        )
    if spoken is None:
        return result(
            RetranscribeOutcome.SKIPPED,
            "spoken language not known yet: run `tagger detect-language` first",
        )
    if spoken == NO_SPEECH:
        return result(RetranscribeOutcome.SKIPPED, "no speech heard in its audio")
    if same_language(spoken, ENGLISH):
        return result(RetranscribeOutcome.SKIPPED, "English speech: the English transcript holds")
    if same_language(row.language, spoken) and not force:
        return result(
            RetranscribeOutcome.CURRENT,
            f"already written in {row.language}, the language spoken; --force transcribes again",
        )
    sure = video.spoken_language_probability
    if sure is not None and sure < MIN_PROBABILITY and not force:
        return result(
            RetranscribeOutcome.SKIPPED,
            f"speech detected as {spoken} only {sure:.0%} sure, so its transcript may be right;"
            " --force transcribes again",
        )
    media_path = stored_media(video, settings)
    if isinstance(media_path, str):
        return result(RetranscribeOutcome.FAILED, media_path)
    return MediaJob(video.id, video_name(video), media_path, video.content_hash, row.language)


def _redo(
    db: Database,
    job: MediaJob,
    model: MultilingualModel,
    embedding: _Embedding,
    heard: dict[str, Transcript],
) -> RetranscribeResult:
    """Transcribe the job's audio (once per content), embed the text and store both; a media
    file that cannot be read or a transcript that cannot be embedded fails this video alone,
    with nothing written."""

    def result(
        outcome: RetranscribeOutcome,
        reason: str = "",
        language: str | None = None,
        *,
        embedded: bool = False,
    ) -> RetranscribeResult:
        return RetranscribeResult(
            job.video_id, job.name, outcome, job.previous, language, embedded, reason
        )

    transcriber = model.get()
    transcript = heard.get(job.content_hash)
    if transcript is None:
        try:
            transcript = _transcribe(job.media_path, transcriber)
        except INPUT_ERRORS as e:
            return result(RetranscribeOutcome.FAILED, f"audio not readable: {reason_of(e)}")
        heard[job.content_hash] = transcript
    if not transcript.text:
        return result(
            RetranscribeOutcome.SKIPPED, "the multilingual model heard no speech: transcript kept"
        )
    try:
        vector = _transcript_vector(db, job, transcript.text, embedding)
    except EmbeddingError as e:
        return result(RetranscribeOutcome.FAILED, f"transcript not embedded: {e}")
    if not _store(db, job, transcript, vector, embedding.key, transcriber):
        return result(RetranscribeOutcome.SKIPPED, "deleted or ingested again meanwhile")
    if vector is None:
        return result(
            RetranscribeOutcome.REDONE,
            "not embedded: the video has no embeddings of the configured encoder"
            f" ({embedding.key[0]}) yet, which changed since it was ingested; ingest its file"
            " again to embed it",
            transcript.language,
        )
    return result(RetranscribeOutcome.REDONE, language=transcript.language, embedded=True)


def _transcribe(media_path: Path, transcriber: Transcriber) -> Transcript:
    """The transcript ingest would write of the file's whole audio with this model."""
    audio = media.load_audio(media_path, sample_rate=media.AUDIO_SAMPLE_RATE)
    if audio is None:
        raise media.MediaError("the media file has no audio stream")
    return transcriber.transcribe(audio)


def _transcript_vector(
    db: Database, job: MediaJob, text: str, embedding: _Embedding
) -> np.ndarray | None:
    """The configured encoder's vector of ``text``: cached (same words, same vector) or encoded;
    None when the video has no vectors of this encoder, so that one vector alone is not written
    (ingest re-embeds a processed video only when it has none). Raises :class:`EmbeddingError`
    with the reason when the encoder gives none."""
    encoder_id, encoder_version = embedding.key
    key = text_key(text)
    with db.session() as session:
        if not embeddings_q.get_embeddings(
            session,
            video_ids=[job.video_id],
            encoder_id=encoder_id,
            encoder_version=encoder_version,
        ):
            return None
        cached = embeddings_q.find_cached(
            session,
            modality=MODALITY,
            encoder_id=encoder_id,
            encoder_version=encoder_version,
            input_hashes=[key],
        )
    if key in cached:
        return cached[key]
    [outcome] = encode_items(
        embedding.encoder(), [EncoderInput(title="", subtitles=text)], [job.name]
    )
    if isinstance(outcome, str):
        raise EmbeddingError(outcome)
    check_vectors({MODALITY}, outcome)
    if MODALITY not in outcome:
        raise EmbeddingError("the encoder gave no vector for it")
    return outcome[MODALITY]


def _store(
    db: Database,
    job: MediaJob,
    transcript: Transcript,
    vector: np.ndarray | None,
    encoder_key: tuple[str, str],
    transcriber: Transcriber,
) -> bool:
    """Write the transcript, the spoken language, the vector (when there is one), the notes and
    the audit entry in one transaction; False when the video was deleted or ingested again
    since it was planned."""
    with db.session() as session:
        found = videos_q.get_videos(session, video_ids=[job.video_id])
        stored = read_stored(session, found[0]) if found else None
        if (
            stored is None
            or stored.info.content_hash != job.content_hash
            or stored.transcript is None
            or stored.transcript.source != TranscriptSource.WHISPER
        ):
            return False
        spoken = transcript.spoken or stored.spoken
        write_transcript(session, job.video_id, transcript)
        write_spoken_language(session, job.video_id, spoken)
        if vector is not None:
            record = embeddings_q.EmbeddingRecord(
                job.video_id, MODALITY, *encoder_key, text_key(transcript.text), vector
            )
            embeddings_q.put_embeddings(session, records=[record])
        used = used_notes(
            keyframes=len(stored.keyframes),
            has_audio=stored.info.has_audio,
            transcript=replace(transcript, spoken=spoken),
            onscreen_lines=len(stored.onscreen or []),
        )
        videos_q.set_modality_notes(
            session,
            video_id=job.video_id,
            notes=restated(json.loads(found[0].modality_notes_json or "[]"), used),
        )
        audit_q.add_audit(
            session,
            action=AuditAction.TRANSCRIPT_REDONE,
            video_id=job.video_id,
            detail={
                "language": transcript.language,
                "previous": job.previous,
                "model": f"{transcriber.name} {transcriber.version}",
                "embedded": vector is not None,
            },
        )
    return True
