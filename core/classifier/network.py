"""Torch modules: modality fusion trunk, node head and the max-constraint module (MCM).

The MCM (Giunchiglia & Lukasiewicz, C-HMCNN, NeurIPS 2020) makes every output hierarchy
consistent by construction: a node's score is the max over itself and all its descendants, so a
child can never outscore an ancestor. It is computed level by level from children lists, so the
~4,000-node GO DAGs cost ~2 x (nodes + edges) per row and no n x n matrix is built. Training uses
its MCLoss (:func:`max_constraint_loss`) with a hand-written backward pass: on the GO sets that
loss dominated a training step before (9.5 of 16 ms per 64 rows; 3.6 ms at 6329cd1, and its
positives-only pass is sparse since f8df396: docs/BENCHMARKS.md). The gradient
embeddings of active learning take that backward pass's numbers without the loss value or
autograd (:func:`max_constraint_loss_gradient`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import nn

from core.classifier.hierarchy import Hierarchy

TRUNKS = ("mlp", "transformer")


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
    the ~10 x nodes of a (descendant, ancestor) pair list. The steps run on the transposed
    ``(nodes, rows)`` matrix, where a gathered node is one contiguous run of rows (7x faster than
    gathering columns on the GO DAGs). Calling it constrains values for inference; training goes
    through :func:`max_constraint_loss`, which has its own backward pass.
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
        self._node_column = torch.arange(self.n_nodes, device=device).unsqueeze(1)
        self._hierarchy = hierarchy
        self._device = device

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        """``(rows, n_nodes)`` values -> the same shape, hierarchy consistent."""
        if values.ndim != 2 or values.shape[1] != self.n_nodes:
            raise ValueError(f"expected (rows, {self.n_nodes}) values, got {tuple(values.shape)}")
        if torch.is_grad_enabled() and values.requires_grad:
            raise RuntimeError("MaxConstraint has no backward pass; train with max_constraint_loss")
        return self._propagate(values.t().contiguous()).t()

    def propagate_keys(self, columns: torch.Tensor) -> torch.Tensor:
        """``(nodes, rows)`` float32 -> constrained values packed with their source descendant.

        Each value is packed with its node index into one int64 that sorts as the value does
        (ties: the larger index), so one ``amax`` per step carries both (``max`` with indices
        would cost 4x as much). :func:`unpack_keys` splits the result.
        """
        return self._propagate(_packed(columns, self._node_column))

    def positives_only(
        self, keys: torch.Tensor, values: torch.Tensor, positive: torch.Tensor
    ) -> None:
        """In place on ``(rows, nodes)`` keys of :meth:`propagate_keys`: each positive entry's
        key becomes the max over its *positive* descendants' ``values`` only (MCLoss's second
        pass), the same key a second propagation of the values with the negatives at -inf gives.

        Positives are sparse (~35 of 4,126 nodes a row on the GO sets), so each positive value
        climbs to its ancestors directly instead of a dense pass over every entry; an ancestor
        that is itself negative keeps its key (labels need not be closed upward).
        """
        flat = _flat_positions(positive)
        node = flat % self.n_nodes
        own = _packed(values.reshape(-1)[flat], node)
        up_start, up = self._ancestors
        start = up_start[node]
        count = up_start[node + 1] - start
        # one pair per (positive, ancestor): the positive it climbs from, and how far up its list
        entry = torch.repeat_interleave(count)
        climb = torch.arange(len(entry), device=entry.device) - (count.cumsum(0) - count)[entry]
        to = (flat - node)[entry] + up[start[entry] + climb]
        # a negative ancestor gets the pair's own entry instead, which holds that key already
        to = torch.where(positive.reshape(-1)[to], to, flat[entry])
        keys.view(-1).scatter_reduce_(0, to, own[entry], "amax", include_self=False)

    @cached_property
    def _ancestors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each node and its ancestors, read off the hierarchy's ancestor matrix, as CSR (offsets
        by node, flat node lists); built on first use, as only training needs it."""
        nodes, ancestors = np.nonzero(self._hierarchy.ancestor_matrix)
        start = np.searchsorted(nodes, np.arange(self.n_nodes + 1))
        return (
            torch.as_tensor(start, device=self._device),
            torch.as_tensor(ancestors, device=self._device),
        )

    def _propagate(self, columns: torch.Tensor) -> torch.Tensor:
        """In place on ``(nodes, rows)``: each node's row becomes the max over its descendants'."""
        rows = columns.shape[1]
        for nodes, table, width in self.steps:
            gathered = columns.index_select(0, table).view(-1, width, rows)
            columns.index_copy_(0, nodes, gathered.amax(dim=1))
        return columns


def _packed(values: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
    """float32 values and their node indices -> int64 keys that order as the values do (ties:
    the larger index); ``nodes`` broadcasts."""
    if values.dtype != torch.float32:
        raise TypeError(f"the trainable MCM takes float32 values, got {values.dtype}")
    keys = _sortable_bits(values.view(torch.int32)).long().bitwise_left_shift_(32)
    return keys.bitwise_or_(nodes)


def _flat_positions(positive: torch.Tensor) -> torch.Tensor:
    """Flat indices of the True entries of a bool matrix, in row-major order."""
    if positive.device.type == "cpu":  # numpy's is ~10x faster than torch's nonzero on CPU
        return torch.from_numpy(np.flatnonzero(positive.numpy()))
    return positive.reshape(-1).nonzero().squeeze(1)


def unpack_keys(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys of :meth:`MaxConstraint.propagate_keys` -> (float32 values, source node indices)."""
    return _sortable_bits((keys >> 32).int()).view(torch.float32), keys & 0xFFFFFFFF


def _sortable_bits(bits: torch.Tensor) -> torch.Tensor:
    """float32 bit patterns (as int32) -> int32s that order as the floats do; its own inverse.

    Non-negative floats already order as their bits; a negative float's magnitude bits are
    flipped so that a larger magnitude gives a smaller integer.
    """
    # one new tensor, changed in place (bits ^ ((bits >> 31) & mask) made three)
    return (bits >> 31).bitwise_and_(0x7FFFFFFF).bitwise_xor_(bits)


def max_constraint_loss(
    logits: torch.Tensor, targets: torch.Tensor, mcm: MaxConstraint
) -> torch.Tensor:
    """C-HMCNN's MCLoss in logit space: per-entry BCE-with-logits ``(rows, n_nodes)``.

    A negative node is scored by the max over all its descendants (as at inference); a positive
    node only by the max over its *positive* descendants, so the gradient of a positive label
    reaches the descendant that should explain it instead of being absorbed by wrong ones.
    The caller weights and reduces the loss.
    """
    _check_targets(logits, targets)
    return _MaxConstraintLoss.apply(logits, targets, mcm)


def max_constraint_loss_gradient(
    logits: torch.Tensor, targets: torch.Tensor, mcm: MaxConstraint
) -> torch.Tensor:
    """``d sum(max_constraint_loss) / d logits`` per row, the same numbers as its backward pass,
    without computing the loss or going through autograd: what the gradient embeddings of
    active learning need (core/classifier/gradient.py), over the whole unreviewed pool."""
    _check_targets(logits, targets)
    train_logits, y, source = _training_logits(logits.detach(), targets, mcm)
    return _send_to_sources(torch.sigmoid(train_logits) - y, source)


def _check_targets(logits: torch.Tensor, targets: torch.Tensor) -> None:
    if targets.shape != logits.shape:
        raise ValueError(f"targets {tuple(targets.shape)} and logits {tuple(logits.shape)} differ")


def _training_logits(
    logits: torch.Tensor, targets: torch.Tensor, mcm: MaxConstraint
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The logit MCLoss scores each entry by, the float targets, and the index of the descendant
    that supplied each score (see :class:`_MaxConstraintLoss`)."""
    # every descendant's max (the negatives' scores), back to (rows, nodes) for the elementwise
    # work and the scatter (2.7x faster so); then the positives' own pass
    keys = mcm.propagate_keys(logits.t().contiguous()).t().contiguous()
    mcm.positives_only(keys, logits, targets)
    train_logits, source = unpack_keys(keys)
    return train_logits, targets.float(), source


def _send_to_sources(entry_grad: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Each entry's gradient added to the logit of the descendant that supplied its score."""
    return torch.zeros_like(entry_grad).scatter_add_(1, source, entry_grad)


class _MaxConstraintLoss(torch.autograd.Function):
    """MCLoss with a hand-written backward pass (2.6x faster than autograd's on the GO sets).

    Both MCM passes (every logit: a dense propagation; positives only: each positive climbs to
    its ancestors) give each entry the index of the descendant that supplied its value, and the
    backward pass sends each entry's BCE gradient ``sigmoid(x) - y`` to that descendant. The BCE
    itself is built from vectorised kernels: torch's own spends most of its time in a scalar
    ``log1p``.
    """

    @staticmethod
    def forward(
        ctx, logits: torch.Tensor, targets: torch.Tensor, mcm: MaxConstraint
    ) -> torch.Tensor:
        train_logits, y, source = _training_logits(logits.detach(), targets, mcm)
        ctx.save_for_backward(train_logits, y, source)
        # log(1 + exp(-|x|)) = -log(sigmoid(|x|)), and sigmoid(|x|) >= 0.5: a stable log
        return (
            train_logits.clamp(min=0)
            - train_logits * y
            - torch.log(torch.sigmoid(train_logits.abs()))
        )

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        train_logits, y, source = ctx.saved_tensors
        return _send_to_sources((torch.sigmoid(train_logits) - y) * grad, source), None, None


class _Dropout(nn.Dropout):
    """``nn.Dropout`` with the same mask, drawn by a faster kernel on CPU.

    Torch draws a CPU dropout mask with ``bernoulli_``, ~12 ns per element at p = 0.5: a quarter
    of a training step of the width-1000 network. ``torch.rand`` in float64 takes the same
    generator draws in the same order (one 53-bit uniform per element), so comparing it with the
    keep probability gives the identical mask and leaves the generator in the same state; a
    forward + backward on 64 x 1,000 takes 0.40-0.49 ms instead of 0.76-0.94 (docs/BENCHMARKS.md).
    Outputs, gradients and the random stream after it are bitwise those of ``nn.Dropout`` (tests
    pin this, so a torch upgrade that changes either kernel is caught).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not 0 < self.p < 1 or x.device.type != "cpu" or self.inplace:
            return super().forward(x)
        keep = 1.0 - self.p
        # as torch's CPU dropout: a 0/1 mask divided by the keep probability, times the input
        noise = (torch.rand(x.shape, dtype=torch.float64) < keep).to(x.dtype).div_(keep)
        return x * noise


class _MLPTrunk(nn.Module):
    """C-HMCNN-style trunk for single-vector input: (Linear, ReLU, Dropout) x mlp_layers."""

    def __init__(self, in_dim: int, config: NetworkConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(config.mlp_layers):
            layers += [nn.Linear(width, config.mlp_width), nn.ReLU(), _Dropout(config.dropout)]
            width = config.mlp_width
        self.layers = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, tokens: list[torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        return self.layers(tokens[0])


class _TransformerTrunk(nn.Module):
    """Per-modality LayerNorm+Linear tokens, modality embeddings, masked pre-norm encoder, mean
    pool.

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
                _Dropout(config.dropout),
                nn.Linear(config.d_model, config.n_nodes),
            )

    def set_standardisation(self, means: list[torch.Tensor], scales: list[torch.Tensor]) -> None:
        for i, (mean, scale) in enumerate(zip(means, scales)):
            getattr(self, f"mean_{i}").copy_(mean)
            getattr(self, f"scale_{i}").copy_(scale)

    def forward(
        self, tokens: list[torch.Tensor], present: torch.Tensor, noise: float = 0.0
    ) -> torch.Tensor:
        """``tokens[m]``: ``(batch, dim_m)`` with missing rows already zero-filled; ``present``:
        bool."""
        return self.output_layer(self.hidden(tokens, present, noise))

    @property
    def output_layer(self) -> nn.Linear:
        """The last linear layer (hidden features -> one raw logit per node)."""
        return self.head[-1] if isinstance(self.head, nn.Sequential) else self.head

    def hidden(
        self, tokens: list[torch.Tensor], present: torch.Tensor, noise: float = 0.0
    ) -> torch.Tensor:
        """``(batch, width)``: the last hidden layer, the input of :attr:`output_layer`
        (gradient embeddings for active learning are built from it)."""
        standardised = []
        for i, t in enumerate(tokens):
            z = (t - getattr(self, f"mean_{i}")) / getattr(self, f"scale_{i}")
            if noise > 0:
                z = z + noise * torch.randn_like(z)
            standardised.append(torch.where(present[:, i : i + 1], z, torch.zeros_like(z)))
        features = self.trunk(standardised, present)
        return self.head[:-1](features) if isinstance(self.head, nn.Sequential) else features
