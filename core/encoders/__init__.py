"""Embedding backends: one vector per modality of a video, keyed by ``(encoder.id, encoder.version)``.

Public API:
- :class:`EncoderInput`, :class:`Encoder`, :data:`MODALITIES` (``core.encoders.base``);
- :func:`load_encoder` picks the backend named by ``settings.encoder``:
  ``"lite"`` (offline default: MiniLM text, Whisper-encoder audio, hand-made visual descriptor;
  one space per modality) or ``"imagebind"`` (ImageBind-huge, one joint space; needs
  ``settings.imagebind_checkpoint``).
Backends are heavy, so each distinct configuration is loaded once per process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from core.config import Settings
from core.encoders.base import MODALITIES, Encoder, EncoderInput, InvalidEncoderInput

__all__ = [
    "MODALITIES",
    "Encoder",
    "EncoderInput",
    "InvalidEncoderInput",
    "available_encoders",
    "load_encoder",
]


def _load_lite(settings: Settings) -> Encoder:
    from core.encoders.lite import LiteEncoder

    whisper = _local_whisper_dir(settings.whisper_model) if settings.whisper_model else None
    return LiteEncoder(
        text_model_path=settings.text_model_path, whisper_model_path=whisper, device=settings.device
    )


def _local_whisper_dir(model: str) -> Path:
    """The CTranslate2 directory of ``whisper_model``: a path, or a size name already cached.

    Resolved like the transcriber does (faster-whisper's cache, downloads off), so the audio
    embedding uses the same model as transcription.
    """
    if Path(model).is_dir():
        return Path(model)
    from faster_whisper.utils import download_model

    try:
        return Path(download_model(model, local_files_only=True))
    except (OSError, ValueError) as e:
        raise ValueError(
            f"whisper_model={model!r} is neither a CTranslate2 model directory nor a model in the "
            "local faster-whisper cache; the lite encoder's audio embedding needs local files "
            "(leave whisper_model unset for the bundled tiny.en)"
        ) from e


def _load_imagebind(settings: Settings) -> Encoder:
    from core.encoders.imagebind import ImageBindEncoder

    return ImageBindEncoder(settings.imagebind_checkpoint, device=settings.device)


_BACKENDS: dict[str, tuple[Callable[[Settings], Encoder], tuple[str, ...]]] = {
    # name -> (loader, the settings fields that make two loads different)
    "lite": (_load_lite, ("text_model_path", "whisper_model", "device")),
    "imagebind": (_load_imagebind, ("imagebind_checkpoint", "device")),
}
_loaded: dict[tuple, Encoder] = {}
_lock = threading.Lock()


def available_encoders() -> list[str]:
    return sorted(_BACKENDS)


def load_encoder(settings: Settings) -> Encoder:
    """The encoder named by ``settings.encoder``, loaded once per process and configuration."""
    if settings.encoder not in _BACKENDS:
        raise ValueError(
            f"unknown encoder {settings.encoder!r}; valid encoders: {', '.join(available_encoders())}"
        )
    loader, fields = _BACKENDS[settings.encoder]
    key = (settings.encoder, *(str(getattr(settings, name)) for name in fields))
    with _lock:
        if key not in _loaded:
            _loaded[key] = loader(settings)
        return _loaded[key]
