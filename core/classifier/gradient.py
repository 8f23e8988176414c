"""Gradient embeddings (BADGE, Ash et al. 2020): how much, and in which direction, a label of a
row would move the model's output layer.

Take the model's own decisions ``yhat`` (ensemble probability >= each node's threshold) as a
row's targets. The gradient of the training loss (MCLoss, through the hierarchy's max
constraint, as the classifier trains) with respect to the output layer's weights is the outer
product ``g = r ⊗ h``: ``r`` is the loss gradient per raw logit (``p - yhat``, each constrained
probability's share sent to the node that supplied it) and ``h`` the last hidden layer. A row
whose decisions are all certain has ``r = 0``; a long ``g`` is a row the model would learn much
from, and rows with different ``g`` teach different things. An ensemble's gradient is its
members' gradients side by side.

The ``(n, nodes x width)`` gradients are never formed (the low-rank trick): only the factors are
kept, and ``<g_i, g_j> = sum over members of <r_i, r_j> <h_i, h_j>``. Memory is
``n x members x (nodes + width)`` float32; ``dim`` caps both widths by a seeded Gaussian random
projection (Johnson-Lindenstrauss: inner products kept in expectation) for large queues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.classifier.inputs import ModalityData
from core.classifier.network import (
    HierarchicalNetwork,
    MaxConstraint,
    max_constraint_loss_gradient,
)


@dataclass(frozen=True)
class GradientEmbedding:
    """Per member and row, the two factors of the output-layer gradient ``r ⊗ h``."""

    residuals: np.ndarray  # (members, n, nodes or dim): loss gradient per raw logit
    hidden: np.ndarray  # (members, n, width or dim): the output layer's input

    def __post_init__(self) -> None:
        if self.residuals.ndim != 3 or self.hidden.shape[:2] != self.residuals.shape[:2]:
            raise ValueError(
                "gradient factors must be (members, n, nodes) and (members, n, width), got "
                f"{self.residuals.shape} and {self.hidden.shape}"
            )

    @property
    def n_rows(self) -> int:
        return self.residuals.shape[1]

    def squared_norms(self) -> np.ndarray:
        """``||g_i||^2`` per row (float64)."""
        r2 = np.square(self.residuals, dtype=np.float64).sum(axis=2)
        h2 = np.square(self.hidden, dtype=np.float64).sum(axis=2)
        return (r2 * h2).sum(axis=0)

    def inner_products(self, row: int) -> np.ndarray:
        """``<g_i, g_row>`` for every row ``i``: O(n x members x (nodes + width)).

        The factor products are summed in float32, as the factors are stored (a float64 sum
        would copy both factors to float64 on every call: twice the time, for differences of
        ~1e-7 relative), and multiplied and summed over members in float64."""
        r = np.einsum("mnd,md->mn", self.residuals, self.residuals[:, row])
        h = np.einsum("mnd,md->mn", self.hidden, self.hidden[:, row])
        return (r.astype(np.float64) * h).sum(axis=0)


@torch.no_grad()
def gradient_embedding(
    networks: Sequence[HierarchicalNetwork],
    data: ModalityData,
    *,
    mcm: MaxConstraint,
    thresholds: np.ndarray,
    device: str,
    batch_size: int,
    dim: int | None = None,
    seed: int = 0,
) -> GradientEmbedding:
    """The factors for every row of ``data`` under the ensemble ``networks`` (see module),
    written batch by batch into the two arrays returned (no per-batch parts joined at the end).
    """
    if dim is not None and dim < 1:
        raise ValueError(f"the projection dimension must be a positive integer, got {dim}")
    rng = np.random.default_rng(seed)
    width = networks[0].output_layer.in_features
    project_r = _projection(mcm.n_nodes, dim, rng)
    project_h = _projection(width, dim, rng)
    residuals = _factor(len(networks), data.n_rows, mcm.n_nodes, project_r)
    hidden = _factor(len(networks), data.n_rows, width, project_h)
    for net in networks:
        net.eval()
    for start in range(0, data.n_rows, batch_size):
        rows = slice(start, start + batch_size)
        tokens = [t[rows].to(device) for t in data.tokens]
        present = data.present[rows].to(device)
        features = [net.hidden(tokens, present) for net in networks]
        logits = [net.output_layer(h) for net, h in zip(networks, features)]
        # the decisions exactly as predict_proba/predict make them (float64 mean of members)
        proba = sum(mcm(torch.sigmoid(z)).cpu().numpy().astype(np.float64) for z in logits)
        decisions = torch.as_tensor(proba / len(networks) >= thresholds, device=device)
        for k, (z, h) in enumerate(zip(logits, features)):
            _project_into(residuals[k, rows], _logit_gradient(z, decisions, mcm), project_r)
            _project_into(hidden[k, rows], h.cpu().numpy(), project_h)
    return GradientEmbedding(residuals, hidden)


def _logit_gradient(logits: torch.Tensor, targets: torch.Tensor, mcm: MaxConstraint) -> np.ndarray:
    """``d MCLoss / d logits`` per row with ``targets`` as the labels (summed over nodes)."""
    return max_constraint_loss_gradient(logits.float(), targets, mcm).cpu().numpy()


def _projection(width: int, dim: int | None, rng: np.random.Generator) -> np.ndarray | None:
    """``P`` Gaussian ``(width, dim)`` scaled by ``1/sqrt(dim)`` for ``x -> x @ P``, or None (the
    identity) when no projection is asked for or it would not shrink the factor."""
    if dim is None or dim >= width:
        return None
    return (rng.standard_normal((width, dim)) / np.sqrt(dim)).astype(np.float32)


def _factor(members: int, rows: int, width: int, projection: np.ndarray | None) -> np.ndarray:
    """An empty float32 ``(members, rows, projected width)`` factor."""
    columns = width if projection is None else projection.shape[1]
    return np.empty((members, rows, columns), dtype=np.float32)


def _project_into(out: np.ndarray, x: np.ndarray, projection: np.ndarray | None) -> None:
    """``out[:] = x @ projection`` (or ``x``) as float32, the product written in place."""
    if projection is None:
        out[...] = x
    else:
        np.matmul(x.astype(np.float32, copy=False), projection, out=out)
