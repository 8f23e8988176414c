"""Timed text shared by subtitle parsing and speech-to-text.

Subtitles (provided files or embedded streams) and Whisper output end up as the same
:class:`Transcript`, so the subtitle modality does not care where its text came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

TranscriptSource = Literal["provided", "embedded", "whisper"]


@dataclass(frozen=True)
class Segment:
    """One cue or recognised utterance; times in seconds from the start of the media."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class SpokenLanguage:
    """The language Whisper heard in the audio (ISO 639-1 code, e.g. ``"ru"``), while
    transcribing it or, when subtitles gave the text, by detection alone.

    Only a multilingual model detects it: an English-only one (the bundled tiny.en) hears every
    language as English, so its transcripts carry no :class:`SpokenLanguage` at all.
    """

    code: str
    probability: float | None  # the model's confidence, 0..1; None: the backend does not say


@dataclass(frozen=True)
class Transcript:
    """What was said or captioned in a video, with where it came from."""

    language: str | None
    source: TranscriptSource
    segments: list[Segment] = field(default_factory=list)
    encoding: str | None = None  # text read from bytes (subtitles): the encoding detected
    encoding_doubtful: bool = False  # that encoding was a weak guess: the words may be garbled
    spoken: SpokenLanguage | None = None  # heard in the audio by a multilingual model

    @property
    def text(self) -> str:
        """All segment texts joined by single spaces (the input of the text encoders)."""
        return " ".join(" ".join(s.text.split()) for s in self.segments if s.text.strip())


_VTT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def webvtt(segments: Sequence[dict]) -> str:
    """Transcript segments (``start``, ``end``, ``text``) as a WebVTT captions file; cue text
    is escaped, so a transcript cannot inject cue markup (or end a cue with ``-->``)."""

    def stamp(t: float) -> str:
        ms = round(t * 1000)
        hours, ms = divmod(ms, 3_600_000)
        minutes, ms = divmod(ms, 60_000)
        secs, ms = divmod(ms, 1000)
        return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"

    cues = [
        f"{stamp(s['start'])} --> {stamp(max(s['end'], s['start'] + 0.5))}\n"
        + " ".join(str(s["text"]).split()).translate(_VTT_ESCAPES)
        for s in segments
        if str(s.get("text", "")).strip()
    ]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"
