"""What the moderator reads about each modality: a doubtful text encoding asks for a look."""

from __future__ import annotations

from core.ingest.notes import finalise, used_notes
from core.media.transcript import Segment, Transcript


def test_a_guessed_text_encoding_is_a_warning_beside_the_used_subtitles() -> None:
    transcript = Transcript(
        language="ru",
        source="provided",
        segments=[Segment(start=0.0, end=1.0, text="Привет")],
        encoding="cp1251",
        encoding_doubtful=True,
    )
    notes = finalise([], used_notes(keyframes=0, has_audio=False, transcript=transcript))
    subtitles = [(n["status"], n["detail"]) for n in notes if n["modality"] == "subtitles"]
    assert subtitles[0][0] == "used"
    assert ("warning", "the text encoding (cp1251) was a guess: some words may be garbled") in (
        subtitles
    )
