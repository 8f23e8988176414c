"""Small hierarchies and a seeded synthetic hierarchical problem for the classifier tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from core.classifier.hierarchy import Hierarchy

# two real top-level categories (multi-root, like IAB tier 1), each with two children;
# "Sports: Soccer" style labels
TREE_PARENTS = [[], [], [0], [0], [1], [1]]
TREE_LABELS = ["Sports", "Music", "Sports: Soccer", "Sports: Tennis", "Music: Jazz", "Music: Rock"]

# DAG: 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3 (3 has two parents), 2 -> 4
DAG_PARENTS = [[], [0], [0], [1, 2], [2]]


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    """Tiny models: one thread is faster than two fighting over a shared machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def tree() -> Hierarchy:
    return Hierarchy(TREE_PARENTS)


@pytest.fixture
def dag() -> Hierarchy:
    return Hierarchy(DAG_PARENTS)


@dataclass
class Synthetic:
    X: np.ndarray
    Y: np.ndarray
    hierarchy: Hierarchy


def make_synthetic(n: int, seed: int, noise: float = 0.3) -> Synthetic:
    """Leaf = argmax of 4 linear scores of 8 features (+ noise); labels are leaf + ancestor."""
    rng = np.random.default_rng(seed)
    hierarchy = Hierarchy(TREE_PARENTS)
    weights = np.random.default_rng(123).normal(size=(8, 4))  # fixed task, seed only draws data
    X = rng.normal(size=(n, 8)).astype(np.float32)
    leaf = np.argmax(X @ weights + noise * rng.normal(size=(n, 4)), axis=1) + 2
    Y = np.zeros((n, 6), dtype=bool)
    Y[np.arange(n), leaf] = True
    return Synthetic(X, hierarchy.close_upward(Y), hierarchy)


@pytest.fixture
def synthetic() -> Synthetic:
    return make_synthetic(400, seed=0)


@pytest.fixture(name="make_synthetic")
def make_synthetic_fixture():
    return make_synthetic


@pytest.fixture
def tree_labels() -> list[str]:
    return list(TREE_LABELS)


@pytest.fixture
def fast_params() -> dict:
    """A small, quick configuration for tests (the defaults are sized for real data)."""
    return {
        "mlp_width": 64,
        "d_model": 32,
        "n_heads": 4,
        "n_layers": 1,
        "max_epochs": 15,
        "patience": 4,
        "n_ensemble": 2,
        "batch_size": 64,
        "lr": 3e-3,
        "alternatives": (),  # the selection among settings has its own tests
    }
