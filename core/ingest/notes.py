"""What ingest used for each modality of a video, and what it had to leave out and why.

Real uploads are often partly damaged: a malformed subtitle file, a few broken audio packets, a
video stream without a decodable frame. Ingest keeps whatever still works and writes these notes,
in words a moderator understands, so the review page can say why a tag was made without sound
or from a Whisper transcript instead of the provided subtitles, and whether the subtitles'
language matches the language spoken in the audio.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import langcodes
from langcodes.tag_parser import LanguageTagError

from core.media.transcript import SpokenLanguage, Transcript

NoteStatus = Literal["used", "fallback", "dropped", "warning"]
# langcodes' own bound for "close enough" (its closest_match default): nb/no, pt-BR/pt and
# ger/de are the same language; en/ru or ms/id are not
_SAME_LANGUAGE_DISTANCE = 25
_NOT_A_LANGUAGE = {None, "mul", "mis", "zxx"}  # "und" parses to None
# what ingest could not use as given; "used" and "warning" notes follow from what it used
_PROBLEM_STATUSES = frozenset({"fallback", "dropped"})
_STREAM_MODALITY = {"video": "frames", "audio": "audio"}
_SOURCES = {
    "provided": "the subtitle file provided with the video",
    "embedded": "the subtitle track inside the video file",
    "whisper": "a transcript of the speech made by Whisper",
}


@dataclass(frozen=True)
class ModalityNote:
    """``used``: what the modality was made from; ``fallback``: a source that failed and was
    replaced by the next one; ``dropped``: the modality is missing, ``detail`` says why;
    ``warning``: used, but something about it deserves a moderator's look."""

    modality: str
    status: NoteStatus
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def stream_dropped(kind: str, reason: str) -> ModalityNote:
    """A video or audio stream that probing left out."""
    return ModalityNote(_STREAM_MODALITY.get(kind, kind), "dropped", reason)


def spoken_language_unknown() -> ModalityNote:
    """Subtitles gave the text and the speech model cannot tell languages apart."""
    return ModalityNote(
        "audio",
        "used",
        "spoken language not detected: the speech model is English-only (a multilingual Whisper"
        " model detects it)",
    )


def used_notes(
    *, keyframes: int, has_audio: bool, transcript: Transcript | None, onscreen_lines: int = 0
) -> list[ModalityNote]:
    """One ``used`` note per modality that made it into the video's inputs."""
    notes = []
    if onscreen_lines:
        plural = "s" * (onscreen_lines != 1)
        detail = f"{onscreen_lines} line{plural} of text read on the keyframes"
        notes.append(ModalityNote("onscreen_text", "used", detail))
    if keyframes:
        notes.append(ModalityNote("frames", "used", f"{keyframes} keyframes"))
    if has_audio:
        notes.append(ModalityNote("audio", "used", "the audio track"))
    if transcript is not None and transcript.text:
        detail = _SOURCES.get(transcript.source, transcript.source)
        if transcript.encoding:
            detail += f", text encoding {transcript.encoding}"
        detail += _language_detail(transcript)
        notes.append(ModalityNote("subtitles", "used", detail))
        mismatch = _language_mismatch(transcript)
        if mismatch:
            notes.append(ModalityNote("subtitles", "warning", mismatch))
        if transcript.encoding_doubtful:
            notes.append(
                ModalityNote(
                    "subtitles",
                    "warning",
                    f"the text encoding ({transcript.encoding}) was a guess: some words may be"
                    " garbled",
                )
            )
    return notes


def _language_detail(transcript: Transcript) -> str:
    """The transcript's language, and for Whisper whether it was detected or assumed; for
    subtitles, their language tag and the language detected in the audio."""
    spoken = transcript.spoken
    if transcript.source == "whisper":
        if spoken is not None:
            return f", spoken language {spoken.code} (detected{_sure(spoken, ', ')})"
        if transcript.language:
            return (
                f", language {transcript.language} assumed: the speech model is English-only,"
                " so speech in other languages is written as English words"
            )
        return ""
    detail = f", language {transcript.language}" if transcript.language else ""
    if spoken is not None:
        detail += f", spoken language {spoken.code} (detected in the audio{_sure(spoken, ', ')})"
    return detail


def _language_mismatch(transcript: Transcript) -> str | None:
    """Text in one language over speech detected as another, in words: subtitles (a translation?)
    or a Whisper transcript written in another language than the one detected later (an
    English-only model's, whose language was detected by ``tagger detect-language``)."""
    spoken, tag = transcript.spoken, transcript.language
    if spoken is None or not _is_language(tag) or same_language(tag, spoken.code):
        return None
    if transcript.source == "whisper":
        return (
            f"the transcript was written in {tag}, speech detected as {spoken.code}"
            f"{_sure(spoken, ' (', ')')}: its words may be wrong (an English-only speech model"
            " writes every language as English words)"
        )
    return (
        f"subtitles are tagged {tag}, speech detected as {spoken.code}{_sure(spoken, ' (', ')')}:"
        " they may be a translation, or belong to another video"
    )


def same_language(tag: str | None, code: str) -> bool:
    """Whether ``tag`` (a transcript's language) names the language ``code``, as close as
    langcodes' own "close enough" (nb/no, pt-BR/pt); no tag names none."""
    return _is_language(tag) and langcodes.tag_distance(tag, code) < _SAME_LANGUAGE_DISTANCE


def _is_language(tag: str | None) -> bool:
    """A tag naming one real language: not "English" (no code), "und" (undetermined), "mul"
    (several) or "zxx" (no speech), which say nothing to compare."""
    if not tag:
        return False
    try:
        language = langcodes.Language.get(tag)
    except LanguageTagError:
        return False
    return language.is_valid() and language.language not in _NOT_A_LANGUAGE


def _sure(spoken: SpokenLanguage, before: str, after: str = "") -> str:
    """How sure the model was, when the backend says."""
    if spoken.probability is None:
        return ""
    return f"{before}{spoken.probability:.0%} sure{after}"


def finalise(problems: Sequence[ModalityNote], used: Iterable[ModalityNote]) -> list[dict]:
    """Problems first, then what was used; a ``fallback`` of a modality that nothing replaced
    becomes ``dropped``."""
    used = list(used)
    present = {note.modality for note in used}
    notes = [
        ModalityNote(n.modality, "dropped", n.detail)
        if n.status == "fallback" and n.modality not in present
        else n
        for n in problems
    ]
    return [note.as_dict() for note in [*notes, *used]]


def restated(stored: Sequence[dict], used: Iterable[ModalityNote]) -> list[dict]:
    """A processed video's stored notes with what was used stated anew, after a multilingual
    model listened for its spoken language: what ingest had to replace or leave out stays as
    noted; the note that an English-only model could not tell the language goes."""
    problems = [
        ModalityNote(note["modality"], note["status"], note["detail"])
        for note in stored
        if note["status"] in _PROBLEM_STATUSES
    ]
    return finalise(problems, used)


def summary(notes: Sequence[ModalityNote]) -> str:
    """One line for a failed video's ``error``: every modality's problem."""
    return "; ".join(f"{note.modality}: {note.detail}" for note in notes) or "nothing usable"
