"""The encoder contract: what goes in, what comes out, and how outputs are keyed in the cache.

Every backend turns one :class:`EncoderInput` into a dict ``{modality: float32 vector}``. A
modality with nothing to encode (empty description, no keyframes, no audio, empty transcript)
is left out of the dict rather than filled with zeros, so the classifier can mask it instead of
learning from a fake signal. ``(id, version)`` keys cached embeddings: ``version`` changes
whenever the same input would produce different vectors (weights, preprocessing).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.errors import TaggerError

MODALITIES: tuple[str, ...] = (
    "title",
    "description",
    "frames",
    "subtitles",
    "audio",
    "onscreen_text",  # text burned into the picture, read by OCR (core.media.ocr)
)
TEXT_MODALITIES: tuple[str, ...] = ("title", "description", "subtitles", "onscreen_text")
AUDIO_SAMPLE_RATE = 16_000


class InvalidEncoderInput(TaggerError, ValueError):
    """An :class:`EncoderInput` that no backend could encode (wrong dtype, shape, ...)."""


@dataclass
class EncoderInput:
    """Everything the encoders see of one video.

    ``frames`` are HxWx3 uint8 RGB keyframes taken at ``frame_times`` seconds; ``audio`` is the
    16 kHz mono float32 track or None; ``subtitles`` is the transcript text ("" when none).
    Validated on construction so a bad video fails alone, before it reaches a batch.
    """

    title: str
    description: str = ""
    frames: list[np.ndarray] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    subtitles: str = ""
    audio: np.ndarray | None = None
    onscreen_text: str = ""

    def __post_init__(self) -> None:
        for i, frame in enumerate(self.frames):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise InvalidEncoderInput(
                    f"frame {i} must be an HxWx3 uint8 RGB array, got {frame.dtype} {frame.shape}"
                )
            if frame.shape[0] < 2 or frame.shape[1] < 2:
                raise InvalidEncoderInput(f"frame {i} is too small: {frame.shape}")
        if len(self.frame_times) != len(self.frames):
            raise InvalidEncoderInput(
                f"{len(self.frames)} frames but {len(self.frame_times)} frame_times"
            )
        if self.audio is not None:
            if self.audio.dtype != np.float32 or self.audio.ndim != 1:
                raise InvalidEncoderInput(
                    f"audio must be 1-D float32 (16 kHz mono), got {self.audio.dtype} "
                    f"{self.audio.shape}"
                )
            if not np.isfinite(self.audio).all():
                raise InvalidEncoderInput("audio contains NaN or infinite samples")

    def text(self, modality: str) -> str:
        """The stripped text of a text modality ("" when absent)."""
        if modality not in TEXT_MODALITIES:
            raise ValueError(f"{modality!r} is not one of the text modalities {TEXT_MODALITIES}")
        return getattr(self, modality).strip()

    @property
    def has_audio(self) -> bool:
        return self.audio is not None and self.audio.size > 0


class Encoder(ABC):
    """A backend mapping videos to per-modality embeddings.

    Subclasses set ``id``, ``version`` and ``dims`` and implement :meth:`encode_batch`, which
    should batch model calls across items (ingest always goes through it).
    """

    id: str
    version: str
    dims: dict[str, int]
    # Seconds of audio, from the start, the encoder looks at; None: the whole track. Ingest keeps
    # no more than this in memory once the transcript is made.
    max_audio_seconds: float | None = None

    @abstractmethod
    def encode_batch(self, items: Sequence[EncoderInput]) -> list[dict[str, np.ndarray]]:
        """Embeddings of each item, in order; absent modalities are missing from its dict."""

    def encode(self, item: EncoderInput) -> dict[str, np.ndarray]:
        return self.encode_batch([item])[0]

    @property
    def cache_key(self) -> tuple[str, str]:
        return (self.id, self.version)


def l2_normalize(vector: np.ndarray) -> np.ndarray:
    """Unit-length float32 copy; a zero vector is an error upstream, not something to hide."""
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError(f"cannot normalise a vector of norm {norm}")
    return vector / norm


def mean_normalized(vectors: np.ndarray) -> np.ndarray:
    """Normalised mean of row vectors: how multi-chunk texts and multi-frame videos are pooled."""
    return l2_normalize(np.asarray(vectors, dtype=np.float32).mean(axis=0))
