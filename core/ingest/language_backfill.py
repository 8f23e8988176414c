"""``tagger detect-language``: the spoken language of videos processed before it was detected
(schema v3), or again after a multilingual speech model was configured (``force``).

Per video only the speech model's language detection runs (:meth:`Transcriber.detect_language`,
the call ingest makes under subtitles), on the stored media's first ``WINDOW_SECONDS`` of audio
(the rest is decoded only when that window has no speech); nothing else is extracted or
embedded again. The language is stored and
the video's modality notes are stated anew through the notes code ingest uses
(:func:`core.ingest.notes.restated`), so the review page reads as after a fresh ingest. A video
whose media is gone or unreadable is reported in words and the others are still done; each
video written is audited. Audio without speech is stored as :data:`NO_SPEECH`, so it is not
listened to again unless forced.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from core.config import Settings
from core.ingest.multilingual import MultilingualModel
from core.ingest.notes import restated, used_notes
from core.ingest.pipeline import INPUT_ERRORS, ProgressCallback, reason_of
from core.ingest.stored import (
    DONE_STATUSES,
    MediaJob,
    OutcomeReport,
    read_stored,
    stored_media,
    video_name,
    write_spoken_language,
)
from core.media import decode as media
from core.media.transcribe import WINDOW_SECONDS, Transcriber
from core.media.transcript import SpokenLanguage
from db.engine import Database
from db.queries import audit as audit_q
from db.queries import videos as videos_q
from db.tables import NO_SPEECH, AuditAction, Video

PAGE_SIZE = 64  # videos read per database session


class LanguageOutcome(StrEnum):
    DETECTED = "detected"
    NO_SPEECH = "no speech"  # stored as NO_SPEECH ("zxx"), notes stated anew
    SKIPPED = "skipped"  # nothing to do for it (not processed, no audio, already known)
    FAILED = "failed"  # its media is gone or unreadable


@dataclass(frozen=True)
class LanguageResult:
    """What happened to one video; ``reason`` says why in words when nothing was detected."""

    video_id: int
    name: str
    outcome: LanguageOutcome
    spoken: SpokenLanguage | None = None
    previous: str | None = None  # the language stored before (None: unknown)
    reason: str = ""


@dataclass
class LanguageReport(OutcomeReport[LanguageResult]):
    pass


def detect_languages(
    db: Database,
    *,
    settings: Settings,
    video_ids: Sequence[int] | None = None,
    force: bool = False,
    transcriber: Transcriber | None = None,
    progress: ProgressCallback | None = None,
) -> LanguageReport:
    """Detect and store the spoken language of ``video_ids`` (None: every processed video whose
    language is unknown, not yet listened to; with ``force`` every processed video).

    Raises :class:`core.ingest.multilingual.EnglishOnlyModelError` before anything is read
    when the speech model is English-only (the default tiny.en); the model is loaded on the
    first video that needs it.
    """
    model = MultilingualModel(settings, transcriber)
    report = LanguageReport()
    with db.session() as session:
        if video_ids is None:
            ids = videos_q.list_video_ids(
                session, statuses=sorted(DONE_STATUSES), without_spoken_language=not force
            )
        else:
            ids = list(dict.fromkeys(video_ids))
    heard: dict[str, SpokenLanguage | None] = {}  # content hash -> language (same bytes, same)
    if progress is not None:
        progress(0, len(ids), "")
    for start in range(0, len(ids), PAGE_SIZE):
        page = ids[start : start + PAGE_SIZE]
        with db.session() as session:
            found = {v.id: v for v in videos_q.get_videos(session, video_ids=page)}
        for video_id in page:
            video = found.get(video_id)
            planned = (
                _plan(video, settings, force=force)
                if video is not None
                else LanguageResult(
                    video_id, f"video {video_id}", LanguageOutcome.FAILED, reason="no such video"
                )
            )
            if isinstance(planned, MediaJob):
                planned = _detect_and_store(db, planned, model, heard)
            report.results.append(planned)
            if progress is not None:
                progress(len(report.results), len(ids), planned.name)
    return report


def _plan(video: Video, settings: Settings, *, force: bool) -> MediaJob | LanguageResult:
    """The video's job, or why there is nothing to detect for it."""

    def result(outcome: LanguageOutcome, reason: str) -> LanguageResult:
        return LanguageResult(
            video.id, video_name(video), outcome, previous=video.spoken_language, reason=reason
        )

    if video.status not in DONE_STATUSES:
        return result(LanguageOutcome.SKIPPED, f"not processed (status {video.status})")
    if video.spoken_language == NO_SPEECH and not force:
        return result(
            LanguageOutcome.SKIPPED, "no speech heard when listened to; --force listens again"
        )
    if video.spoken_language and not force:
        return result(
            LanguageOutcome.SKIPPED,
            f"spoken language already detected ({video.spoken_language}); --force detects it again",
        )
    if not video.has_audio:
        return result(LanguageOutcome.SKIPPED, "no audio: there is no speech to detect")
    media_path = stored_media(video, settings)
    if isinstance(media_path, str):
        return result(LanguageOutcome.FAILED, media_path)
    return MediaJob(
        video.id, video_name(video), media_path, video.content_hash, video.spoken_language
    )


def _detect_and_store(
    db: Database, job: MediaJob, model: MultilingualModel, heard: dict[str, SpokenLanguage | None]
) -> LanguageResult:
    """Listen to the job's audio (once per content) and store what was heard; a media file
    that cannot be read fails this video alone."""

    def result(
        outcome: LanguageOutcome, reason: str = "", spoken: SpokenLanguage | None = None
    ) -> LanguageResult:
        return LanguageResult(job.video_id, job.name, outcome, spoken, job.previous, reason)

    transcriber = model.get()
    if job.content_hash not in heard:
        try:
            heard[job.content_hash] = _listen(job.media_path, transcriber)
        except INPUT_ERRORS as e:
            return result(LanguageOutcome.FAILED, f"audio not readable: {reason_of(e)}")
    spoken = heard[job.content_hash]
    with db.session() as session:
        found = videos_q.get_videos(session, video_ids=[job.video_id])
        stored = read_stored(session, found[0]) if found else None
        if stored is None or stored.info.content_hash != job.content_hash:
            return result(LanguageOutcome.SKIPPED, "deleted or ingested again meanwhile")
        transcript = stored.transcript
        used = used_notes(
            keyframes=len(stored.keyframes),
            has_audio=stored.info.has_audio,
            transcript=replace(transcript, spoken=spoken) if transcript is not None else None,
            onscreen_lines=len(stored.onscreen or []),
        )
        videos_q.set_modality_notes(
            session,
            video_id=job.video_id,
            notes=restated(json.loads(found[0].modality_notes_json or "[]"), used),
        )
        write_spoken_language(
            session, job.video_id, spoken or SpokenLanguage(NO_SPEECH, probability=None)
        )
        audit_q.add_audit(
            session,
            action=AuditAction.LANGUAGE_DETECTED,
            video_id=job.video_id,
            detail={
                "language": spoken.code if spoken else NO_SPEECH,
                "probability": spoken.probability if spoken else None,
                "previous": job.previous,
                "model": f"{transcriber.name} {transcriber.version}",
            },
        )
    if spoken is None:
        return result(LanguageOutcome.NO_SPEECH, "no speech heard in the audio")
    return result(LanguageOutcome.DETECTED, spoken=spoken)


def _listen(media_path: Path, transcriber: Transcriber) -> SpokenLanguage | None:
    """The language ingest would detect in the file's audio: decoding only its first window,
    where speech usually is, and the rest (up to ingest's limit) only when that has none."""
    first = media.load_audio(media_path, media.AUDIO_SAMPLE_RATE, max_seconds=WINDOW_SECONDS)
    if first is None:
        raise media.MediaError("the media file has no audio stream")
    spoken = transcriber.detect_language(first)
    if spoken is not None or first.size < WINDOW_SECONDS * media.AUDIO_SAMPLE_RATE:
        return spoken
    return transcriber.detect_language(media.load_audio(media_path, media.AUDIO_SAMPLE_RATE))
