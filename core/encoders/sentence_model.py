"""A local sentence-transformers model directory, loaded by the cheapest faithful backend.

BERT models with mean pooling (the bundled all-MiniLM-L6-v2 and its kind: ``modules.json`` =
Transformer + Pooling(mean) [+ Normalize], ``config.json`` model_type ``bert``) run in plain
torch (:mod:`core.encoders.bert`) with the Rust ``tokenizers`` package reading the model's
``tokenizer.json``: a fresh process then skips ``import sentence_transformers`` (~8 s of CPU),
and the vectors are the same to float rounding. Any other model (XLM-R, MPNet, CLS pooling,
prompts, options this module does not know) is loaded by ``SentenceTransformer`` as before.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigurationError

BATCH_SIZE = 64

# sentence_bert_config.json entries that leave a plain BERT forward pass unchanged.
_NEUTRAL_TRANSFORMER_OPTIONS: dict[str, Any] = {
    "do_lower_case": False,
    "transformer_task": "feature-extraction",
    "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
    "module_output_name": "token_embeddings",
}
_BERT_TOKENIZER_CLASSES = {"BertTokenizer", "BertTokenizerFast"}


class SentenceModel(ABC):
    """Unit-length sentence vectors and the word-piece offsets they are computed from."""

    dim: int
    max_seq_length: int

    @abstractmethod
    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character ``[start, end)`` of each word piece of ``text`` (no special tokens)."""

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 unit row per text; texts longer than ``max_seq_length`` are truncated."""


class PlainBertSentenceModel(SentenceModel):
    """A BERT + mean-pooling sentence-transformers directory run without sentence-transformers."""

    def __init__(self, model_dir: Path, device: str = "cpu") -> None:
        import torch
        from tokenizers import Tokenizer

        from core.encoders.bert import load_bert_mean_encoder

        self._torch = torch
        self.device = device
        self.model = load_bert_mean_encoder(model_dir, device)
        self.dim = self.model.config.hidden_size
        self.max_seq_length = _max_seq_length(model_dir, self.model.config.max_position_embeddings)
        tokenizer_file = str(model_dir / "tokenizer.json")
        # Two instances, because truncation and padding are settings of a Tokenizer object and
        # the embedder may be called from several threads.
        self._splitter = Tokenizer.from_file(tokenizer_file)
        self._splitter.no_truncation()
        self._splitter.no_padding()
        self._batcher = Tokenizer.from_file(tokenizer_file)
        self._batcher.enable_truncation(self.max_seq_length, strategy="longest_first")
        pad_token = str(_read_json(model_dir / "tokenizer_config.json").get("pad_token", "[PAD]"))
        pad_id = self._batcher.token_to_id(pad_token)
        if pad_id is None:
            raise ConfigurationError(f"{model_dir}/tokenizer.json has no pad token {pad_token!r}")
        self._batcher.enable_padding(pad_id=pad_id, pad_token=pad_token)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return list(self._splitter.encode(text, add_special_tokens=False).offsets)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        # Longest first in batches of BATCH_SIZE, as SentenceTransformer.encode batches them.
        order = np.argsort([-len(text) for text in texts], kind="stable")
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            encodings = self._batcher.encode_batch([texts[i] for i in batch])
            ids = torch.tensor([e.ids for e in encodings], device=self.device)
            mask = torch.tensor([e.attention_mask for e in encodings], device=self.device)
            with torch.inference_mode():
                vectors[batch] = self.model(ids, mask).float().cpu().numpy()
        return vectors


class TransformersSentenceModel(SentenceModel):
    """Any sentence-transformers directory, through ``SentenceTransformer``."""

    def __init__(self, model_dir: Path, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(model_dir), device=device, local_files_only=True)
        self.dim = int(self.model.get_embedding_dimension())
        self.max_seq_length = int(self.model.max_seq_length or 0)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        encoding = self.model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        return [tuple(span) for span in encoding["offset_mapping"]]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(
            list(texts),
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


def load_sentence_model(model_dir: Path, device: str = "cpu") -> SentenceModel:
    """Plain torch for a BERT + mean-pooling directory, ``SentenceTransformer`` otherwise."""
    if is_plain_bert_mean_model(model_dir):
        return PlainBertSentenceModel(model_dir, device)
    return TransformersSentenceModel(model_dir, device)


def is_plain_bert_mean_model(model_dir: Path) -> bool:
    """Whether every file of ``model_dir`` describes exactly what :mod:`core.encoders.bert` runs."""
    modules = _read_json(model_dir / "modules.json")
    kinds = [str(module.get("type", "")).rsplit(".", 1)[-1] for module in modules or []]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return False
    if modules[0].get("path", "") != "":
        return False
    options = _read_json(model_dir / "sentence_bert_config.json") or {}
    if any(
        key != "max_seq_length" and _NEUTRAL_TRANSFORMER_OPTIONS.get(key, object()) != value
        for key, value in options.items()
    ):
        return False
    settings = _read_json(model_dir / "config_sentence_transformers.json") or {}
    if settings.get("default_prompt_name") is not None:
        return False
    if settings.get("model_type", "SentenceTransformer") != "SentenceTransformer":
        return False
    config = _read_json(model_dir / "config.json") or {}
    pooling = _read_json(model_dir / modules[1].get("path", "") / "config.json") or {}
    pooled_dim = pooling.get("embedding_dimension", pooling.get("word_embedding_dimension"))
    return (
        config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and not config.get("is_decoder", False)
        and pooled_dim == config.get("hidden_size")
        and _is_mean_pooling(pooling)
        and _has_bert_tokenizer(model_dir)
        and any((model_dir / name).is_file() for name in ("model.safetensors", "pytorch_model.bin"))
    )


def _is_mean_pooling(pooling: dict[str, Any]) -> bool:
    if "pooling_mode" in pooling:  # sentence-transformers >= 5 writes one name
        return pooling["pooling_mode"] == "mean"
    flags = {key: value for key, value in pooling.items() if key.startswith("pooling_mode_")}
    return flags.pop("pooling_mode_mean_tokens", False) is True and not any(flags.values())


def _has_bert_tokenizer(model_dir: Path) -> bool:
    """A WordPiece ``tokenizer.json`` whose normaliser agrees with ``tokenizer_config.json``
    (transformers builds a BERT tokenizer from the latter's options)."""
    tokenizer = _read_json(model_dir / "tokenizer.json")
    options = _read_json(model_dir / "tokenizer_config.json") or {}
    if tokenizer is None or options.get("tokenizer_class") not in _BERT_TOKENIZER_CLASSES:
        return False
    normalizer = tokenizer.get("normalizer") or {}
    return (
        normalizer.get("type") == "BertNormalizer"
        and normalizer.get("clean_text") is True
        and normalizer.get("lowercase") == options.get("do_lower_case", True)
        and normalizer.get("strip_accents") == options.get("strip_accents")
        and normalizer.get("handle_chinese_chars") == options.get("tokenize_chinese_chars", True)
        and (tokenizer.get("pre_tokenizer") or {}).get("type") == "BertPreTokenizer"
        and (tokenizer.get("model") or {}).get("type") == "WordPiece"
    )


def _max_seq_length(model_dir: Path, max_position_embeddings: int) -> int:
    """As sentence-transformers sets it: the module's own limit, else the tokenizer's, capped at
    the position table."""
    options = _read_json(model_dir / "sentence_bert_config.json") or {}
    tokenizer_options = _read_json(model_dir / "tokenizer_config.json") or {}
    limit = options.get("max_seq_length") or tokenizer_options.get("model_max_length")
    return min(int(limit), max_position_embeddings) if limit else max_position_embeddings


def _read_json(path: Path) -> Any:
    """The parsed file, or None when it does not exist."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigurationError(f"{path} is not valid JSON: {e}") from e
