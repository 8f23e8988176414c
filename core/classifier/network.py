"""Torch modules: modality fusion trunk, node head and the max-constraint module (MCM).

The MCM (Giunchiglia & Lukasiewicz, C-HMCNN, NeurIPS 2020) makes every output hierarchy
consistent by construction: a node's score is the max over itself and all its descendants, so a
child can never outscore an ancestor. It is computed from the sparse (descendant, ancestor) pair
list, so the ~4,000-node GO DAGs cost a few times ``n_nodes`` per row instead of ``n_nodes^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

TRUNKS = ("mlp", "transformer")
_MCM_MAX_ELEMENTS = 1 << 24  # gathered (row, pair) entries per chunk: 64 MiB of float32


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of one network; stored in the saved model's JSON so it can be rebuilt exactly."""

    modality_dims: tuple[int, ...]
    n_nodes: int
    trunk: str
    d_model: int
    n_layers: int
    n_heads: int
    mlp_width: int
    mlp_layers: int
    dropout: float

    def __post_init__(self) -> None:
        if self.trunk not in TRUNKS:
            raise ValueError(f"trunk must be one of {TRUNKS}, got {self.trunk!r}")
        if self.trunk == "mlp" and len(self.modality_dims) != 1:
            raise ValueError(f"the mlp trunk takes exactly one modality, got {len(self.modality_dims)}")


def max_constraint(values: torch.Tensor, descendants: torch.Tensor, ancestors: torch.Tensor) -> torch.Tensor:
    """``out[:, a] = max(values[:, d] for every (d, a) pair)``; each node is its own ancestor.

    Works on logits or probabilities alike (max commutes with the monotone sigmoid). Rows are
    processed in chunks so the gathered ``(rows, pairs)`` tensor stays bounded.
    """
    n_rows, n_pairs = values.shape[0], descendants.numel()
    chunk = max(1, _MCM_MAX_ELEMENTS // max(n_pairs, 1))
    outputs = []
    for start in range(0, n_rows, chunk):
        part = values[start : start + chunk]
        gathered = part[:, descendants]
        index = ancestors.expand(part.shape[0], -1)
        outputs.append(torch.zeros_like(part).scatter_reduce(1, index, gathered, "amax", include_self=False))
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


def max_constraint_loss(
    logits: torch.Tensor, targets: torch.Tensor, descendants: torch.Tensor, ancestors: torch.Tensor
) -> torch.Tensor:
    """C-HMCNN's MCLoss in logit space (numerically stable BCE-with-logits).

    A negative node is scored by the max over all its descendants (as at inference); a positive
    node only by the max over its *positive* descendants, so the gradient of a positive label
    reaches the descendant that should explain it instead of being absorbed by wrong ones.
    Returns the per-entry loss ``(rows, n_nodes)``; the caller weights and reduces it.
    """
    masked = logits.masked_fill(~targets, float("-inf"))
    both = max_constraint(torch.cat([logits, masked]), descendants, ancestors)
    constrained, positive_only = both[: len(logits)], both[len(logits) :]
    train_logits = torch.where(targets, positive_only, constrained)
    return F.binary_cross_entropy_with_logits(train_logits, targets.float(), reduction="none")


class _MLPTrunk(nn.Module):
    """C-HMCNN-style trunk for single-vector input: (Linear, ReLU, Dropout) x mlp_layers."""

    def __init__(self, in_dim: int, config: NetworkConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(config.mlp_layers):
            layers += [nn.Linear(width, config.mlp_width), nn.ReLU(), nn.Dropout(config.dropout)]
            width = config.mlp_width
        self.layers = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, tokens: list[torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        return self.layers(tokens[0])


class _TransformerTrunk(nn.Module):
    """Per-modality LayerNorm+Linear tokens, modality embeddings, masked pre-norm encoder, mean pool."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.projections = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, config.d_model)) for dim in config.modality_dims
        )
        self.modality_embedding = nn.Parameter(torch.randn(len(config.modality_dims), config.d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(
            config.d_model,
            config.n_heads,
            dim_feedforward=2 * config.d_model,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)
        self.out_dim = config.d_model

    def forward(self, tokens: list[torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        embedded = torch.stack([proj(t) for proj, t in zip(self.projections, tokens)], dim=1)
        embedded = embedded + self.modality_embedding
        encoded = self.norm(self.encoder(embedded, src_key_padding_mask=~present))
        weights = present.unsqueeze(-1).to(encoded.dtype)
        return (encoded * weights).sum(1) / weights.sum(1)


class HierarchicalNetwork(nn.Module):
    """Modalities -> trunk -> one raw logit per node (constrain with :func:`max_constraint`).

    Input standardisation (per modality mean/scale fitted on training rows) lives in buffers so
    the saved weights carry it. Missing modalities arrive as ``present[:, m] == False``; their
    token values are replaced by zeros only to keep NaN out of the arithmetic and are masked out
    of attention and pooling, so they never influence the output.
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        for i, dim in enumerate(config.modality_dims):
            self.register_buffer(f"mean_{i}", torch.zeros(dim))
            self.register_buffer(f"scale_{i}", torch.ones(dim))
        if config.trunk == "mlp":
            self.trunk: nn.Module = _MLPTrunk(config.modality_dims[0], config)
            self.head: nn.Module = nn.Linear(self.trunk.out_dim, config.n_nodes)
        else:
            self.trunk = _TransformerTrunk(config)
            self.head = nn.Sequential(
                nn.Linear(config.d_model, config.d_model),
                nn.GELU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.d_model, config.n_nodes),
            )

    def set_standardisation(self, means: list[torch.Tensor], scales: list[torch.Tensor]) -> None:
        for i, (mean, scale) in enumerate(zip(means, scales)):
            getattr(self, f"mean_{i}").copy_(mean)
            getattr(self, f"scale_{i}").copy_(scale)

    def forward(self, tokens: list[torch.Tensor], present: torch.Tensor, noise: float = 0.0) -> torch.Tensor:
        """``tokens[m]``: ``(batch, dim_m)`` with missing rows already zero-filled; ``present``: bool."""
        standardised = []
        for i, t in enumerate(tokens):
            z = (t - getattr(self, f"mean_{i}")) / getattr(self, f"scale_{i}")
            if noise > 0:
                z = z + noise * torch.randn_like(z)
            standardised.append(torch.where(present[:, i : i + 1], z, torch.zeros_like(z)))
        return self.head(self.trunk(standardised, present))
