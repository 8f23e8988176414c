"""Input validation for ``HierarchicalClassifier``: modality arrays -> masked float32 tensors.

One ndarray is a single modality (``SINGLE_MODALITY``); a mapping gives several. An all-NaN row
means "modality missing" and is masked, never imputed; a partly NaN row is corrupt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from core.classifier.hierarchy import Hierarchy

Inputs = np.ndarray | Mapping[str, np.ndarray]
SINGLE_MODALITY = "features"


@dataclass(frozen=True)
class ModalityData:
    """Validated inputs: per modality ``(n, d)`` float32 tensors (missing rows zero-filled only
    for arithmetic) plus the ``(n, n_modalities)`` presence mask that hides them."""

    names: tuple[str, ...]
    dims: tuple[int, ...]
    tokens: tuple[torch.Tensor, ...]
    present: torch.Tensor

    @property
    def n_rows(self) -> int:
        return self.present.shape[0]

    def subset(self, rows: np.ndarray) -> ModalityData:
        index = torch.as_tensor(rows, dtype=torch.long)
        return ModalityData(
            self.names, self.dims, tuple(t[index] for t in self.tokens), self.present[index]
        )

    def standardisation(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Mean and scale per modality over the rows where it is present."""
        means, scales = [], []
        for i, t in enumerate(self.tokens):
            rows = t[self.present[:, i]]
            if len(rows) == 0:
                raise ValueError(f"modality {self.names[i]!r} is missing in every training row")
            scale = rows.std(dim=0, unbiased=False) if len(rows) > 1 else torch.ones(t.shape[1])
            means.append(rows.mean(dim=0))
            scales.append(torch.where(scale > 1e-6, scale, torch.ones_like(scale)))
        return means, scales

    def require_some_modality(self) -> None:
        empty = np.flatnonzero(~self.present.any(dim=1).numpy())
        if len(empty):
            raise ValueError(
                f"row {int(empty[0])} has every modality missing "
                f"({len(empty)} such rows: {empty[:10].tolist()})"
            )


def prepare_inputs(
    X: Inputs, *, names: tuple[str, ...] | None = None, dims: tuple[int, ...] | None = None
) -> ModalityData:
    """Check shapes and NaN rules; ``names``/``dims`` (from fit) fix the expected modalities.

    At predict time a fitted modality absent from the mapping counts as missing in every row.
    A row that is partly NaN is corrupt (only an all-NaN row means "missing") and is rejected.
    """
    mapping = {SINGLE_MODALITY: X} if isinstance(X, np.ndarray) else dict(X)
    if not mapping:
        raise ValueError("no modality given")
    if names is None:
        names = tuple(sorted(mapping))
    unknown = set(mapping) - set(names)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}; the model knows {list(names)}")
    arrays = {name: np.asarray(value, dtype=np.float32) for name, value in mapping.items()}
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1 or any(a.ndim != 2 for a in arrays.values()):
        shapes = {n: a.shape for n, a in arrays.items()}
        raise ValueError(f"every modality must be 2-D with the same row count, got {shapes}")
    n_rows = lengths.pop()
    tokens, present, found_dims = [], [], []
    for i, name in enumerate(names):
        if name not in arrays:
            dim = dims[i]  # absent modality (predict time only): missing everywhere
            tokens.append(torch.zeros(n_rows, dim))
            present.append(torch.zeros(n_rows, dtype=torch.bool))
            found_dims.append(dim)
            continue
        a = arrays[name]
        if dims is not None and a.shape[1] != dims[i]:
            raise ValueError(
                f"modality {name!r} has {a.shape[1]} dims, the model expects {dims[i]}"
            )
        nan = np.isnan(a)
        missing = nan.all(axis=1)
        partial = np.flatnonzero(nan.any(axis=1) & ~missing)
        if len(partial):
            raise ValueError(
                f"modality {name!r} row {int(partial[0])} is partly NaN (all-NaN means missing)"
            )
        if np.isinf(a).any():
            raise ValueError(
                f"modality {name!r} row {int(np.flatnonzero(np.isinf(a).any(axis=1))[0])} has inf"
            )
        tokens.append(torch.from_numpy(np.where(missing[:, None], 0.0, a).astype(np.float32)))
        present.append(torch.from_numpy(~missing))
        found_dims.append(a.shape[1])
    return ModalityData(tuple(names), tuple(found_dims), tuple(tokens), torch.stack(present, dim=1))


def check_labels(Y: np.ndarray, n_rows: int, hierarchy: Hierarchy) -> np.ndarray:
    Y = np.asarray(Y)
    if Y.shape != (n_rows, hierarchy.n_nodes):
        raise ValueError(f"labels must have shape ({n_rows}, {hierarchy.n_nodes}), got {Y.shape}")
    return hierarchy.close_upward(Y.astype(bool))
