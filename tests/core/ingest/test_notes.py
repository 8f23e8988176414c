"""What the moderator reads about each modality: a doubtful text encoding asks for a look."""

from __future__ import annotations

from core.ingest.notes import finalise, restated, spoken_language_unknown, used_notes
from core.media.transcript import Segment, SpokenLanguage, Transcript


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


def test_restated_notes_keep_what_ingest_left_out_and_state_the_rest_anew() -> None:
    """After the language was detected later: the fallback and the dropped notes stay, the note
    that the English-only model could not tell the language goes, used notes are new."""
    stored = [
        {"modality": "subtitles", "status": "fallback", "detail": "subtitle file a.srt not used"},
        {"modality": "frames", "status": "dropped", "detail": "no decodable frame"},
        spoken_language_unknown().as_dict(),
        {"modality": "audio", "status": "used", "detail": "the audio track"},
    ]
    transcript = Transcript(
        language="en",
        source="provided",
        segments=[Segment(start=0.0, end=1.0, text="hello")],
        spoken=SpokenLanguage("en", 0.9),
    )
    used = used_notes(keyframes=0, has_audio=True, transcript=transcript)
    assert restated(stored, used) == [*stored[:2], *[note.as_dict() for note in used]]
    assert used[-1].detail.endswith("spoken language en (detected in the audio, 90% sure)")
