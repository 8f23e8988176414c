"""A BERT encoder with mean pooling in plain torch, for sentence-transformers' MiniLM models.

``import sentence_transformers`` costs ~8 s of CPU in a fresh process (transformers' model
utilities, torch.distributed, scikit-learn), longer than the whole model load it serves. A
BERT-family sentence model is small: embeddings, N post-norm transformer layers, the mean of the
token states over the attention mask, L2-normalised. The submodules are named as in
transformers' ``BertModel``, so its checkpoints load as they are; the outputs equal
``SentenceTransformer.encode`` to float rounding (tests/core/encoders/test_sentence_model.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from core.errors import ConfigurationError

# transformers' BERT family prefixes its encoder weights with this in task checkpoints
# (BertForMaskedLM, ...); sentence-transformers saves the bare BertModel.
_BASE_MODEL_PREFIX = "bert."


@dataclass(frozen=True)
class BertConfig:
    """The shape of a BERT encoder, read from a transformers ``config.json``."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> BertConfig:
        try:
            return cls(
                vocab_size=int(config["vocab_size"]),
                hidden_size=int(config["hidden_size"]),
                num_hidden_layers=int(config["num_hidden_layers"]),
                num_attention_heads=int(config["num_attention_heads"]),
                intermediate_size=int(config["intermediate_size"]),
                max_position_embeddings=int(config["max_position_embeddings"]),
                type_vocab_size=int(config.get("type_vocab_size", 2)),
                layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
            )
        except KeyError as e:
            raise ConfigurationError(f"BERT config.json lacks {e.args[0]!r}") from e


class _Embeddings(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        # Single-sentence inputs: every token has type 0.
        states = (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)
            + self.token_type_embeddings.weight[0]
        )
        return self.LayerNorm(states)


class _SelfAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)

    def _split_heads(self, states: torch.Tensor) -> torch.Tensor:
        batch, length, width = states.shape
        return states.view(batch, length, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, states: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        attended = functional.scaled_dot_product_attention(
            self._split_heads(self.query(states)),
            self._split_heads(self.key(states)),
            self._split_heads(self.value(states)),
            attn_mask=key_mask,
        )
        return attended.transpose(1, 2).reshape(states.shape)


class _AttentionOutput(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, attended: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(attended) + residual)


class _Attention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = _SelfAttention(config)
        self.output = _AttentionOutput(config)

    def forward(self, states: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(states, key_mask), states)


class _Intermediate(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return functional.gelu(self.dense(states))


class _Output(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, expanded: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(expanded) + residual)


class _Layer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = _Attention(config)
        self.intermediate = _Intermediate(config)
        self.output = _Output(config)

    def forward(self, states: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        attended = self.attention(states, key_mask)
        return self.output(self.intermediate(attended), attended)


class _Encoder(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(config) for _ in range(config.num_hidden_layers))

    def forward(self, states: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            states = layer(states, key_mask)
        return states


class BertMeanEncoder(nn.Module):
    """Token ids -> unit-length mean of the last layer's states over the real tokens."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        real = attention_mask.bool()
        # (batch, 1, 1, keys): padding is never attended to.
        key_mask = real[:, None, None, :]
        states = self.encoder(self.embeddings(input_ids), key_mask)
        weights = real.unsqueeze(-1).to(states.dtype)
        summed = (states * weights).sum(dim=1)
        mean = summed / weights.sum(dim=1).clamp(min=1e-9)
        return functional.normalize(mean, p=2, dim=1)


def _read_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    safetensors_path = model_dir / "model.safetensors"
    if safetensors_path.is_file():
        from safetensors.torch import load_file

        return load_file(str(safetensors_path))
    pickle_path = model_dir / "pytorch_model.bin"
    if pickle_path.is_file():
        return torch.load(pickle_path, map_location="cpu", weights_only=True)
    raise ConfigurationError(f"{model_dir} has neither model.safetensors nor pytorch_model.bin")


def load_bert_mean_encoder(model_dir: Path, device: str = "cpu") -> BertMeanEncoder:
    """The encoder of ``model_dir`` (``config.json`` + weights), in eval mode on ``device``."""
    config = BertConfig.from_dict(json.loads((model_dir / "config.json").read_text()))
    model = BertMeanEncoder(config)
    wanted = model.state_dict().keys()
    weights = {
        name.removeprefix(_BASE_MODEL_PREFIX): tensor
        for name, tensor in _read_weights(model_dir).items()
    }
    missing = sorted(set(wanted) - set(weights))
    if missing:
        raise ConfigurationError(
            f"the BERT weights in {model_dir} lack {len(missing)} tensors, e.g. {missing[0]}"
        )
    model.load_state_dict({name: weights[name] for name in wanted})
    return model.to(device).eval()
