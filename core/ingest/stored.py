"""What ingest stored for a processed video, read back: media info, keyframes, transcript,
on-screen text and the spoken language; and the writes of the transcript and spoken language.

Ingest reuses it for a copy of the same bytes (nothing is decoded again); the
``detect-language`` backfill (:mod:`core.ingest.language_backfill`) states the video's modality
notes anew from it, with the same notes code a fresh ingest uses, and ``retranscribe``
(:mod:`core.ingest.retranscribe`) writes its new transcript as ingest writes one.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from sqlmodel import Session

from core.config import Settings
from core.media.transcript import Segment, SpokenLanguage, Transcript
from core.retention import MEDIA_DELETED
from db.queries import videos as videos_q
from db.tables import NO_SPEECH, Video, VideoStatus

DONE_STATUSES = frozenset({VideoStatus.READY, VideoStatus.PREDICTED, VideoStatus.REVIEWED})


@dataclass(frozen=True)
class StoredVideo:
    """A processed video's artifacts as ingest stored them."""

    video_id: int
    info: videos_q.StoredMedia
    keyframes: list[tuple[float, str]]
    transcript: Transcript | None
    onscreen: list[Segment] | None  # text read on its keyframes; None: never read
    spoken: SpokenLanguage | None  # detected in its audio (same bytes: a copy's audio too);
    # None: not known, or no speech heard


@dataclass(frozen=True)
class MediaJob:
    """A processed video to work on again from the media file ingest stored (language
    detection, re-transcription), with the language stored for it before."""

    video_id: int
    name: str
    media_path: Path
    content_hash: str
    previous: str | None


class _Result(Protocol):
    @property
    def outcome(self) -> str: ...


R = TypeVar("R", bound=_Result)


@dataclass
class OutcomeReport(Generic[R]):
    """One result per video of a pass over stored videos, with the failures and the count per
    outcome that the CLI prints."""

    results: list[R] = field(default_factory=list)

    @property
    def failed(self) -> list[R]:
        return [r for r in self.results if r.outcome == "failed"]

    @property
    def totals(self) -> dict[str, int]:
        return dict(Counter(str(r.outcome) for r in self.results))


def video_name(video: Video) -> str:
    """How reports name a video: its file name, else its dataset id, else its number."""
    return video.original_name or video.external_id or f"video {video.id}"


def stored_media(video: Video, settings: Settings) -> Path | str:
    """The video's media file in the media folder, to decode again; or why there is none, in
    words."""
    if video.media_deleted_at is not None:
        return MEDIA_DELETED
    if not video.stored_path or not video.content_hash or Path(video.stored_path).is_absolute():
        return "no media file in the media folder"
    media_path = settings.data_dir / video.stored_path
    if not media_path.is_file():
        return f"the media file {video.stored_path} is missing"
    return media_path


def read_stored(session: Session, video: Video) -> StoredVideo | None:
    """``video``'s stored artifacts; None when it is not processed (or has no media file)."""
    if video.status not in DONE_STATUSES or not video.content_hash or not video.stored_path:
        return None
    spoken = None
    if video.spoken_language and video.spoken_language != NO_SPEECH:
        spoken = SpokenLanguage(video.spoken_language, video.spoken_language_probability)
    row = videos_q.get_transcript(session, video_id=video.id)
    transcript = None
    if row is not None:
        transcript = Transcript(
            language=row.language,
            source=row.source,
            segments=_segments(row.segments_json),
            encoding=row.encoding,
            spoken=spoken,
        )
    ocr = videos_q.get_onscreen_text(session, video_id=video.id)
    return StoredVideo(
        video_id=video.id,
        info=videos_q.StoredMedia(
            content_hash=video.content_hash,
            stored_path=video.stored_path,
            duration_s=video.duration_s,
            width=video.width,
            height=video.height,
            has_audio=bool(video.has_audio),
            has_video=bool(video.has_video),
        ),
        keyframes=[
            (k.timestamp_s, k.thumbnail_path)
            for k in videos_q.get_keyframes(session, video_id=video.id)
        ],
        transcript=transcript,
        onscreen=_segments(ocr.segments_json) if ocr is not None else None,
        spoken=spoken,
    )


def write_transcript(session: Session, video_id: int, transcript: Transcript) -> None:
    """Store ``transcript`` as the video's (replacing any), its segments as JSON."""
    videos_q.put_transcript(
        session,
        video_id=video_id,
        source=transcript.source,
        text=transcript.text,
        language=transcript.language,
        segments=[{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments],
        encoding=transcript.encoding,
    )


def write_spoken_language(session: Session, video_id: int, spoken: SpokenLanguage | None) -> None:
    """Store the language heard in the video's audio (None: not known)."""
    videos_q.set_spoken_language(
        session,
        video_id=video_id,
        language=spoken.code if spoken else None,
        probability=spoken.probability if spoken else None,
    )


def _segments(segments_json: str) -> list[Segment]:
    return [
        Segment(start=s["start"], end=s["end"], text=s["text"]) for s in json.loads(segments_json)
    ]
