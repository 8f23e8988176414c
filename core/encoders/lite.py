"""The offline default backend: MiniLM text, Whisper-encoder audio, hand-made visual descriptor.

Each modality lives in its own vector space (the classifier projects each one separately):
title/description/subtitles -> 384-d MiniLM, audio -> 2 x Whisper width (768 for tiny.en),
frames -> :data:`core.encoders.visual.DESCRIPTOR_DIM` hand-made features.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.encoders import audio as audio_module
from core.encoders import text as text_module
from core.encoders import visual
from core.encoders.base import TEXT_MODALITIES, Encoder, EncoderInput
from core.encoders.fingerprint import combine

# Bump when text windowing or audio windowing/pooling changes (the visual descriptor has its own).
# v2: audio windows cut like faster-whisper cuts them (shared encoder pass with transcription).
PREPROCESSING_VERSION = "lite-v2"


def lite_version(text_fingerprint: str, audio_fingerprint: str, audio_compute_type: str) -> str:
    """The cache version of a lite encoder from its model files' fingerprints (no model loaded)."""
    return combine(
        PREPROCESSING_VERSION,
        visual.DESCRIPTOR_VERSION,
        f"text:{text_fingerprint}",
        f"audio:{audio_fingerprint}:{audio_compute_type}",
    )


class LiteEncoder(Encoder):
    """Runs on a laptop CPU with nothing downloaded; see the module docstring for the spaces."""

    id = "lite"
    max_audio_seconds = audio_module.MAX_AUDIO_SECONDS

    def __init__(
        self,
        text_model_path: Path | None = None,
        whisper_model_path: Path | None = None,
        device: str = "cpu",
        whisper_device: str | None = None,
    ) -> None:
        """``whisper_device``: where the audio's Whisper model runs (default: ``device``)."""
        self.text = text_module.MiniLMTextEmbedder(
            text_model_path or text_module.default_text_model_path(), device=device
        )
        self.audio = audio_module.WhisperAudioEmbedder(
            whisper_model_path or audio_module.default_whisper_model_path(),
            device=whisper_device or device,
        )
        self.version = lite_version(
            self.text.fingerprint, self.audio.fingerprint, self.audio.compute_type
        )
        self.dims = {
            "title": self.text.dim,
            "description": self.text.dim,
            "subtitles": self.text.dim,
            "onscreen_text": self.text.dim,
            "frames": visual.DESCRIPTOR_DIM,
            "audio": self.audio.dim,
        }

    def encode_batch(self, items: Sequence[EncoderInput]) -> list[dict[str, np.ndarray]]:
        results: list[dict[str, np.ndarray]] = [{} for _ in items]

        text_slots = [
            (i, modality)
            for i, item in enumerate(items)
            for modality in TEXT_MODALITIES
            if item.text(modality)
        ]
        if text_slots:
            vectors = self.text.embed([items[i].text(m) for i, m in text_slots])
            for (i, modality), vector in zip(text_slots, vectors, strict=True):
                results[i][modality] = vector

        audio_slots = [i for i, item in enumerate(items) if item.has_audio]
        if audio_slots:
            vectors = self.audio.embed([items[i].audio for i in audio_slots])
            for i, vector in zip(audio_slots, vectors, strict=True):
                results[i]["audio"] = vector

        for i, item in enumerate(items):
            if item.frames:
                results[i]["frames"] = visual.describe_frames(item.frames)
        return results
