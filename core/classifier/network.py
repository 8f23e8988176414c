"""Torch modules: modality fusion trunk, node head and the max-constraint module (MCM).

The MCM (Giunchiglia & Lukasiewicz, C-HMCNN, NeurIPS 2020) makes every output hierarchy
consistent by construction: a node's score is the max over itself and all its descendants, so a
child can never outscore an ancestor. It is computed level by level from children lists, so the
~4,000-node GO DAGs cost ~2 x (nodes + edges) per row and no n x n matrix is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.classifier.hierarchy import Hierarchy

TRUNKS = ("mlp", "transformer")
_MCM_MAX_ELEMENTS = 1 << 24  # gathered entries per chunk of rows (~64 MiB of float32)


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
            raise ValueError(
                f"the mlp trunk takes exactly one modality, got {len(self.modality_dims)}"
            )


class MaxConstraint:
    """MCM of one hierarchy: ``out[:, a] = max(values[:, d] for d in descendants(a) + [a])``.

    Nodes are processed deepest level first; a node's output is the max of its own value and its
    children's outputs (already final), which is the max over all descendants, DAG or tree.
    Within a level, nodes are bucketed by child count and their children lists padded with the
    node's own index (harmless under max), so a row costs ~2 x (nodes + edges) gathers instead of
    the ~10 x nodes of a (descendant, ancestor) pair list. The backward pass routes each
    gradient to one arg-max descendant per (row, node), as ``torch.max`` does.
    """

    def __init__(self, hierarchy: Hierarchy, device: str | torch.device = "cpu") -> None:
        self.n_nodes = hierarchy.n_nodes
        # per step: the level's nodes, their padded [self, children...] lists flattened, the width
        self.steps: list[tuple[torch.Tensor, torch.Tensor, int]] = []
        for level in sorted(set(hierarchy.depth.tolist()), reverse=True):
            buckets: dict[int, list[int]] = {}
            for node in np.flatnonzero(hierarchy.depth == level):
                n_children = len(hierarchy.children[node])
                if n_children:
                    width = 1 << int(np.ceil(np.log2(n_children + 1)))
                    buckets.setdefault(width, []).append(int(node))
            for width, nodes in sorted(buckets.items()):
                table = [
                    [n, *hierarchy.children[n]] + [n] * (width - 1 - len(hierarchy.children[n]))
                    for n in nodes
                ]
                self.steps.append(
                    (
                        torch.tensor(nodes, device=device),
                        torch.tensor(table, device=device).flatten(),
                        width,
                    )
                )
        # CSR lists of each node's ancestors (itself included) for the sparse positive-only pass
        ancestors = hierarchy.ancestor_matrix
        counts = ancestors.sum(axis=1)
        self._anc_count = torch.as_tensor(counts, dtype=torch.long, device=device)
        self._anc_start = torch.as_tensor(
            np.r_[0, np.cumsum(counts)[:-1]], dtype=torch.long, device=device
        )
        self._anc_index = torch.as_tensor(np.nonzero(ancestors)[1], dtype=torch.long, device=device)

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        if values.ndim != 2 or values.shape[1] != self.n_nodes:
            raise ValueError(f"expected (rows, {self.n_nodes}) values, got {tuple(values.shape)}")
        rows = max(1, _MCM_MAX_ELEMENTS // (4 * self.n_nodes))
        parts = [_MaxConstraintFunction.apply(v, self) for v in values.split(rows)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def positive_only(self, values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per positive entry ``(r, a)``: max of ``values[r, d]`` over positive descendants ``d``.

        Computed sparsely (labels are sparse): every positive ``(r, d)`` is scattered with
        ``amax`` into all of ``d``'s ancestors. Entries that are not positive hold 0 and carry
        no meaning; callers select positives with ``targets``.
        """
        rows, nodes = targets.nonzero(as_tuple=True)
        counts = self._anc_count[nodes]
        total = int(counts.sum())
        first = torch.cumsum(counts, 0) - counts
        offsets = torch.arange(total, device=values.device) - first.repeat_interleave(
            counts, output_size=total
        )
        ancestors = self._anc_index[
            self._anc_start[nodes].repeat_interleave(counts, output_size=total) + offsets
        ]
        flat = rows.repeat_interleave(counts, output_size=total) * self.n_nodes + ancestors
        source = values[rows, nodes].repeat_interleave(counts, output_size=total)
        out = values.new_zeros(values.numel()).scatter_reduce(
            0, flat, source, "amax", include_self=False
        )
        return out.view_as(values)

    def forward_with_argmax(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Constrained values and, per entry, the index of the descendant that supplied it."""
        out = values.detach().clone()
        arg = torch.arange(self.n_nodes, device=values.device).expand_as(out).clone()
        rows = out.shape[0]
        # index_select/index_copy_ rather than advanced indexing: half the time per step
        for nodes, table, width in self.steps:
            best, pick = out.index_select(1, table).view(rows, -1, width).max(dim=-1)
            out.index_copy_(1, nodes, best)
            source = arg.index_select(1, table).view(rows, -1, width)
            arg.index_copy_(1, nodes, source.gather(-1, pick.unsqueeze(-1)).squeeze(-1))
        return out, arg


class _MaxConstraintFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values: torch.Tensor, plan: MaxConstraint) -> torch.Tensor:
        out, arg = plan.forward_with_argmax(values)
        ctx.save_for_backward(arg)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (arg,) = ctx.saved_tensors
        return torch.zeros_like(grad).scatter_add_(1, arg, grad), None


def max_constraint_loss(
    logits: torch.Tensor, targets: torch.Tensor, mcm: MaxConstraint
) -> torch.Tensor:
    """C-HMCNN's MCLoss in logit space (numerically stable BCE-with-logits).

    A negative node is scored by the max over all its descendants (as at inference); a positive
    node only by the max over its *positive* descendants, so the gradient of a positive label
    reaches the descendant that should explain it instead of being absorbed by wrong ones.
    Returns the per-entry loss ``(rows, n_nodes)``; the caller weights and reduces it.
    """
    train_logits = torch.where(targets, mcm.positive_only(logits, targets), mcm(logits))
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
    """Per-modality LayerNorm+Linear tokens, modality embeddings, masked pre-norm encoder, mean pool.

    No final LayerNorm before pooling: with one (or few) tokens and small data it let the network
    settle in the all-negative solution (training loss stuck at the base rate, outputs nearly
    independent of the input); without it the same data is fitted (see tests).
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.projections = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, config.d_model))
            for dim in config.modality_dims
        )
        self.modality_embedding = nn.Parameter(
            torch.randn(len(config.modality_dims), config.d_model) * 0.02
        )
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
        self.out_dim = config.d_model

    def forward(self, tokens: list[torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        embedded = torch.stack([proj(t) for proj, t in zip(self.projections, tokens)], dim=1)
        embedded = embedded + self.modality_embedding
        encoded = self.encoder(embedded, src_key_padding_mask=~present)
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

    def forward(
        self, tokens: list[torch.Tensor], present: torch.Tensor, noise: float = 0.0
    ) -> torch.Tensor:
        """``tokens[m]``: ``(batch, dim_m)`` with missing rows already zero-filled; ``present``: bool."""
        standardised = []
        for i, t in enumerate(tokens):
            z = (t - getattr(self, f"mean_{i}")) / getattr(self, f"scale_{i}")
            if noise > 0:
                z = z + noise * torch.randn_like(z)
            standardised.append(torch.where(present[:, i : i + 1], z, torch.zeros_like(z)))
        return self.head(self.trunk(standardised, present))
