"""Instant, deterministic stand-ins for the speech model and the encoder, for benchmarks that
measure everything but the models: decoding, the pipeline's plumbing and storing, Ray's
machinery (``ray_scaling --stand-in-models``). The test suite's fakes (tests/support/fakes.py)
are these with hooks for tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from core.encoders import Encoder, EncoderInput
from core.encoders.base import TEXT_MODALITIES
from core.media.transcribe import Transcriber
from core.media.transcript import Segment, Transcript

TEXT_DIM = 8
SPOKEN_TEXT = "a spoken sentence"


class InstantEncoder(Encoder):
    """Vectors derived from the input (same input, same vector): a hash of each text, the mean
    colour of the frames, two statistics of the audio."""

    id = "instant"

    def __init__(self, version: str = "v1") -> None:
        self.version = version
        self.dims = {**dict.fromkeys(TEXT_MODALITIES, TEXT_DIM), "frames": 4, "audio": 4}

    def encode_batch(self, items: Sequence[EncoderInput]) -> list[dict[str, np.ndarray]]:
        return [self.vectors(item) for item in items]

    @staticmethod
    def vectors(item: EncoderInput) -> dict[str, np.ndarray]:
        vectors = {m: text_vector(item.text(m)) for m in TEXT_MODALITIES if item.text(m)}
        if item.frames:
            mean = np.mean([frame.mean(axis=(0, 1)) for frame in item.frames], axis=0)
            vectors["frames"] = np.r_[mean / 255.0, 1.0].astype(np.float32)
        if item.has_audio:
            vectors["audio"] = np.array(
                [item.audio.std(), item.audio.size / 1e5, 1.0, 0.5], np.float32
            )
        return vectors


class InstantTranscriber(Transcriber):
    """Hears :data:`SPOKEN_TEXT` in any audio."""

    name = "instant-whisper"
    version = "1"

    def transcribe(self, audio: np.ndarray) -> Transcript:
        return Transcript(
            language="en", source="whisper", segments=[Segment(0.0, 0.5, SPOKEN_TEXT)]
        )


def text_vector(text: str) -> np.ndarray:
    """A random vector seeded by the text: the same text always gives the same vector."""
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).standard_normal(TEXT_DIM).astype(np.float32)
