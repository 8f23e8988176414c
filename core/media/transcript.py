"""Timed text shared by subtitle parsing and speech-to-text.

Subtitles (provided files or embedded streams) and Whisper output end up as the same
:class:`Transcript`, so the subtitle modality does not care where its text came from.
"""

from __future__ import annotations

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
class Transcript:
    """What was said or captioned in a video, with where it came from."""

    language: str | None
    source: TranscriptSource
    segments: list[Segment] = field(default_factory=list)
    encoding: str | None = None  # text read from bytes (subtitles): the encoding detected
    encoding_doubtful: bool = False  # that encoding was a weak guess: the words may be garbled

    @property
    def text(self) -> str:
        """All segment texts joined by single spaces (the input of the text encoders)."""
        return " ".join(" ".join(s.text.split()) for s in self.segments if s.text.strip())
