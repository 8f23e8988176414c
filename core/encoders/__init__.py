"""Embedding backends: one vector per modality of a video, keyed by ``(encoder.id,
encoder.version)``.

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
from core.errors import ConfigurationError

__all__ = [
    "MODALITIES",
    "Encoder",
    "EncoderInput",
    "InvalidEncoderInput",
    "available_encoders",
    "encoder_cache_key",
    "load_encoder",
]


def _lite_model_paths(settings: Settings) -> tuple[Path, Path]:
    """(MiniLM dir, CTranslate2 Whisper dir) of the lite encoder: the settings' or the bundled
    ones."""
    from core.encoders import audio, text

    text_path = settings.text_model_path or text.default_text_model_path()
    whisper_path = (
        _local_whisper_dir(settings.whisper_model, settings)
        if settings.whisper_model
        else audio.default_whisper_model_path()
    )
    return text_path, whisper_path


def _load_lite(settings: Settings) -> Encoder:
    from core.encoders.lite import LiteEncoder

    text_path, whisper_path = _lite_model_paths(settings)
    return LiteEncoder(
        text_model_path=text_path,
        whisper_model_path=whisper_path,
        device=settings.device,
        whisper_device=settings.resolved_whisper_device,
    )


def _lite_cache_key(settings: Settings) -> tuple[str, str]:
    from core.encoders.fingerprint import dir_fingerprint
    from core.encoders.lite import LiteEncoder, lite_version
    from core.media.transcribe import DEFAULT_COMPUTE_TYPE

    text_path, whisper_path = _lite_model_paths(settings)
    version = lite_version(
        dir_fingerprint(text_path), dir_fingerprint(whisper_path), DEFAULT_COMPUTE_TYPE
    )
    return LiteEncoder.id, version


def _local_whisper_dir(model: str, settings: Settings) -> Path:
    """The CTranslate2 directory of ``whisper_model``: a path, ``packaged-base``, or a size name
    already cached.

    Resolved like the transcriber does (faster-whisper's cache, downloads off), so the audio
    embedding uses the same model as transcription.
    """
    from core.media.packaged_whisper import PACKAGED_BASE, packaged_whisper_base

    if model == PACKAGED_BASE:
        return packaged_whisper_base(settings.models_dir)
    if Path(model).is_dir():
        return Path(model)
    from faster_whisper.utils import download_model

    try:
        return Path(download_model(model, local_files_only=True))
    except (OSError, ValueError) as e:
        raise ConfigurationError(
            f"whisper_model={model!r} is neither a CTranslate2 model directory nor a model in the "
            "local faster-whisper cache; the lite encoder's audio embedding needs local files "
            "(leave whisper_model unset for the bundled tiny.en)"
        ) from e


def _load_imagebind(settings: Settings) -> Encoder:
    from core.encoders.imagebind import ImageBindEncoder

    return ImageBindEncoder(settings.imagebind_checkpoint, device=settings.device)


_BACKENDS: dict[str, tuple[Callable[[Settings], Encoder], tuple[str, ...]]] = {
    # name -> (loader, the settings fields that make two loads different)
    "lite": (_load_lite, ("text_model_path", "whisper_model", "device", "whisper_device")),
    "imagebind": (_load_imagebind, ("imagebind_checkpoint", "device")),
}
_loaded: dict[tuple, Encoder] = {}
_lock = threading.Lock()


def encoder_cache_key(settings: Settings) -> tuple[str, str]:
    """``(encoder.id, encoder.version)`` of the configured encoder, without loading models when
    it can (lite: file fingerprints only), so that a cache check costs milliseconds, not the
    seconds of loading the models."""
    _check_name(settings.encoder)
    with _lock:
        loaded = _loaded.get(_settings_key(settings))
    if loaded is not None:
        return loaded.cache_key
    if settings.encoder == "lite":
        return _lite_cache_key(settings)
    return load_encoder(settings).cache_key


def available_encoders() -> list[str]:
    return sorted(_BACKENDS)


def _check_name(name: str) -> None:
    if name not in _BACKENDS:
        raise ConfigurationError(
            f"unknown encoder {name!r}; valid encoders: {', '.join(available_encoders())}"
        )


def _settings_key(settings: Settings) -> tuple:
    _, fields = _BACKENDS[settings.encoder]
    return (settings.encoder, *(str(getattr(settings, name)) for name in fields))


def load_encoder(settings: Settings) -> Encoder:
    """The encoder named by ``settings.encoder``, loaded once per process and configuration."""
    _check_name(settings.encoder)
    loader, _ = _BACKENDS[settings.encoder]
    key = _settings_key(settings)
    with _lock:
        if key not in _loaded:
            _loaded[key] = loader(settings)
        return _loaded[key]
