"""Deterministic, instant stand-ins for the encoders, the transcriber and an active model, so
ingest tests run without models and can count what was encoded, transcribed or predicted; and a
server thread that died, for the health and metrics tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.background import ServerThread
from core.encoders import EncoderInput
from core.encoders.base import TEXT_MODALITIES
from core.media.transcript import Segment, SpokenLanguage, Transcript
from db.engine import Database
from db.queries import model_versions as models_q
from db.tables import ModelStatus
from scripts.bench.stand_ins import (  # noqa: F401 - re-exported for the tests
    SPOKEN_TEXT,
    TEXT_DIM,
    InstantEncoder,
    InstantTranscriber,
    text_vector,
)

FAKE_TEXT_DIM = TEXT_DIM


class FakeEncoder(InstantEncoder):
    """The benchmarks' instant encoder that records every input it encodes.

    ``fail_title``: raise on the input with that title, like an encoder bug; ``nan_title``: give
    that input a NaN frames vector, like a model that went numerically wrong.
    """

    id = "fake"

    def __init__(
        self, version: str = "v1", *, fail_title: str | None = None, nan_title: str | None = None
    ) -> None:
        super().__init__(version)
        self.items: list[EncoderInput] = []
        self.fail_title = fail_title
        self.nan_title = nan_title

    def encode_batch(self, items: Sequence[EncoderInput]) -> list[dict[str, np.ndarray]]:
        self.items.extend(items)
        out = []
        for item in items:
            if self.fail_title is not None and item.title == self.fail_title:
                raise RuntimeError(f"fake encoder bug on {item.title!r}")
            vectors = self.vectors(item)
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


class FakeTranscriber(InstantTranscriber):
    """Hears :data:`SPOKEN_TEXT` in any audio; counts its calls."""

    name = "fake-whisper"

    def __init__(self) -> None:
        self.calls = 0

    def transcribe(self, audio: np.ndarray) -> Transcript:
        self.calls += 1
        return super().transcribe(audio)


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


class EndedThread(ServerThread):
    """A server thread that ends at once, as one that died would: only its state tells."""

    name = "ended"

    def run(self) -> None:
        return None
