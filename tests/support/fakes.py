"""Deterministic, instant stand-ins for the encoders, the transcriber and an active model, so
ingest tests run without models and can count what was encoded, transcribed or predicted."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from core.encoders import Encoder, EncoderInput
from core.encoders.base import TEXT_MODALITIES
from core.media.transcribe import Transcriber
from core.media.transcript import Segment, SpokenLanguage, Transcript
from db.engine import Database
from db.queries import model_versions as models_q
from db.tables import ModelStatus

FAKE_TEXT_DIM = 8
SPOKEN_TEXT = "a spoken sentence"


class FakeEncoder(Encoder):
    """Vectors derived from the input (same input, same vector); records every input it encodes.

    ``fail_title``: raise on the input with that title, like an encoder bug; ``nan_title``: give
    that input a NaN frames vector, like a model that went numerically wrong.
    """

    id = "fake"

    def __init__(
        self, version: str = "v1", *, fail_title: str | None = None, nan_title: str | None = None
    ) -> None:
        self.version = version
        self.dims = {
            "title": FAKE_TEXT_DIM,
            "description": FAKE_TEXT_DIM,
            "subtitles": FAKE_TEXT_DIM,
            "onscreen_text": FAKE_TEXT_DIM,
            "frames": 4,
            "audio": 4,
        }
        self.items: list[EncoderInput] = []
        self.fail_title = fail_title
        self.nan_title = nan_title

    def encode_batch(self, items: Sequence[EncoderInput]) -> list[dict[str, np.ndarray]]:
        self.items.extend(items)
        out = []
        for item in items:
            if self.fail_title is not None and item.title == self.fail_title:
                raise RuntimeError(f"fake encoder bug on {item.title!r}")
            vectors = {m: text_vector(item.text(m)) for m in TEXT_MODALITIES if item.text(m)}
            if item.frames:
                mean = np.mean([f.mean(axis=(0, 1)) for f in item.frames], axis=0)
                vectors["frames"] = np.r_[mean / 255.0, 1.0].astype(np.float32)
            if item.has_audio:
                vectors["audio"] = np.array(
                    [item.audio.std(), item.audio.size / 1e5, 1.0, 0.5], np.float32
                )
            if self.nan_title is not None and item.title == self.nan_title:
                vectors["frames"] = np.full(4, np.nan, np.float32)
            out.append(vectors)
        return out

    def encoded(self, modality: str) -> int:
        """How many inputs of this modality were encoded so far."""
        return sum(
            bool(item.text(modality))
            if modality in TEXT_MODALITIES
            else bool(item.frames)
            if modality == "frames"
            else item.has_audio
            for item in self.items
        )


class FakeTranscriber(Transcriber):
    """Hears :data:`SPOKEN_TEXT` in any audio; counts its calls."""

    name = "fake-whisper"
    version = "1"

    def __init__(self) -> None:
        self.calls = 0

    def transcribe(self, audio: np.ndarray) -> Transcript:
        self.calls += 1
        return Transcript(
            language="en", source="whisper", segments=[Segment(0.0, 0.5, SPOKEN_TEXT)]
        )


class RussianTranscriber(FakeTranscriber):
    """A multilingual model that hears Russian in any audio (``spoken``); counts its
    transcriptions (``calls``) and its detections alone (``detections``)."""

    multilingual = True

    def __init__(self, probability: float = 0.8) -> None:
        super().__init__()
        self.spoken = SpokenLanguage("ru", probability)
        self.detections = 0

    def transcribe(self, audio: np.ndarray) -> Transcript:
        self.calls += 1
        return Transcript(
            language=self.spoken.code,
            source="whisper",
            segments=[Segment(0.0, 0.5, "Привет, мир")],
            spoken=self.spoken,
        )

    def detect_language(self, audio: np.ndarray) -> SpokenLanguage | None:
        self.detections += 1
        return self.spoken


def text_vector(text: str) -> np.ndarray:
    """A random vector seeded by the text: the same text always gives the same vector."""
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).standard_normal(FAKE_TEXT_DIM).astype(np.float32)


def activate_stand_in_model(db: Database) -> int:
    """An active model version without an artifact, for tests in which nothing loads it (the
    prediction is faked, or the action is refused first): ingest, for one, hands new videos to
    prediction only while a model is active."""
    with db.session() as session:
        version = models_q.create_model_version(session, encoder_id="fake", encoder_version="v1")
        models_q.finish_model_version(
            session, model_version_id=version.id, status=ModelStatus.READY
        )
        models_q.set_active_model(session, model_version_id=version.id)
        return version.id
