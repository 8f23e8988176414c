"""From node probabilities to decisions and to the tags moderators see.

``fit_thresholds`` picks per-node decision thresholds on validation data and
``choose_threshold_floor`` the probability below which no tag is predicted; ``decode`` keeps the
most specific predicted tags; ``tag_tree`` gives the browsable tree of everything above a
display floor. All of them work on DAGs (a node with two parents appears under both in the tree).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.classifier.hierarchy import Hierarchy
from core.classifier.metrics import hierarchical_prf

DEFAULT_THRESHOLD = 0.5  # only when validation data has no positive label at all
# the floors choose_threshold_floor weighs; 0 keeps the per-node thresholds as they are
THRESHOLD_FLOORS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
FLOOR_REPEATS = 5  # 2-fold splits averaged: one split of a few hundred rows is noisy
MIN_FLOOR_ROWS = 20  # below this many validation rows the halves say nothing: no floor
# a seeded sample of at most this many rows chooses the floor: on a GO set's ~2,500 rows and
# ~4,000 tags all of them took ~26 CPU s (the per-node sorts), where the HMC sets chose the same
# floor at every seed from 160-480 rows
MAX_FLOOR_ROWS = 1_000


@dataclass(frozen=True)
class TagPrediction:
    """One predicted tag: node index, full path label (``"Sports: Soccer"``) and probability."""

    node: int
    label: str
    probability: float


@dataclass
class TagTree:
    """A node of the display tree; ``children`` only holds nodes above the display floor."""

    node: int
    label: str
    probability: float
    predicted: bool
    children: list[TagTree] = field(default_factory=list)


def fit_thresholds(
    proba: np.ndarray, y_true: np.ndarray, hierarchy: Hierarchy, *, min_positives: int = 5
) -> np.ndarray:
    """Per-node F1-maximising thresholds, made monotone so decisions are ancestor-closed.

    Nodes with fewer than ``min_positives`` validation positives share their level's threshold
    (micro F1 over the level). Finally each node's threshold is lowered to the smallest of its
    descendants': with hierarchy-consistent probabilities a predicted child then always implies
    predicted ancestors (p_parent >= p_child >= t_child >= t_parent).
    """
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=bool)
    if proba.shape != y_true.shape or proba.shape[1] != hierarchy.n_nodes:
        raise ValueError(
            f"proba {proba.shape} and labels {y_true.shape} must be (n, {hierarchy.n_nodes})"
        )
    fallback = _best_f1_threshold(proba.ravel(), y_true.ravel())
    fallback = DEFAULT_THRESHOLD if fallback is None else fallback
    thresholds = np.empty(hierarchy.n_nodes)
    for level in np.unique(hierarchy.depth):
        cols = np.flatnonzero(hierarchy.depth == level)
        level_t = _best_f1_threshold(proba[:, cols].ravel(), y_true[:, cols].ravel())
        level_t = fallback if level_t is None else level_t
        for c in cols:
            node_t = None
            if np.count_nonzero(y_true[:, c]) >= min_positives:
                node_t = _best_f1_threshold(proba[:, c], y_true[:, c])
            thresholds[c] = level_t if node_t is None else node_t
    for node in reversed(hierarchy.topological_order):
        for p in hierarchy.parents[node]:
            thresholds[p] = min(thresholds[p], thresholds[node])
    return thresholds


def choose_threshold_floor(
    proba: np.ndarray,
    y_true: np.ndarray,
    hierarchy: Hierarchy,
    *,
    min_positives: int = 5,
    floors: Sequence[float] = THRESHOLD_FLOORS,
    repeats: int = FLOOR_REPEATS,
    random_state: int | None = 0,
) -> float:
    """The floor (one of ``floors``) under which no tag is predicted, chosen by cross-fitting:
    thresholds fitted on one half of the validation rows (at most ``MAX_FLOOR_ROWS`` of them),
    each floor scored (hierarchical F1) on the other half, both ways, over ``repeats`` random
    splits; ties go to the lower floor.

    Why: a node's F1-best threshold on a few validation positives sits just under its lowest
    positive, often near 0, and then predicts the tag (and, by the ancestor-closing, its
    ancestors) for most videos. Measured on four shared HMC sets and the demo corpus, such
    thresholds cost up to 0.4 hierarchical F1 on test rows (docs/BENCHMARKS.md, "Decision
    thresholds"); how high the floor should be differs by data set (0.02-0.1 on the demo corpus,
    0.2-0.3 on the HMC sets), hence chosen from the data rather than fixed.
    """
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=bool)
    floors = sorted(floors)
    if len(proba) < MIN_FLOOR_ROWS or len(floors) == 1:
        return float(floors[0])
    rng = np.random.default_rng(random_state)
    if len(proba) > MAX_FLOOR_ROWS:
        sample = np.sort(rng.choice(len(proba), MAX_FLOOR_ROWS, replace=False))
        proba, y_true = proba[sample], y_true[sample]
    scores = np.zeros(len(floors))
    for _ in range(repeats):
        halves = np.array_split(rng.permutation(len(proba)), 2)
        for fit_rows, held in (halves, halves[::-1]):
            node = fit_thresholds(
                proba[fit_rows], y_true[fit_rows], hierarchy, min_positives=min_positives
            )
            for i, floor in enumerate(floors):
                decisions = proba[held] >= np.maximum(node, floor)
                scores[i] += hierarchical_prf(y_true[held], decisions, hierarchy)[2]
    return float(floors[int(np.argmax(scores))])


def _best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Threshold (predict ``score >= t``) maximising F1; midway to the next lower score."""
    n_pos = int(np.count_nonzero(labels))
    if n_pos == 0:
        return None
    order = np.argsort(-scores)  # ties are grouped: their order is irrelevant
    s, y = scores[order], labels[order]
    ends = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tp = np.cumsum(y)[ends]
    f1 = 2 * tp / (ends + 1 + n_pos)
    best = int(np.argmax(f1))
    cut = s[ends[best]]
    if best + 1 < ends.size:
        return float((cut + s[ends[best + 1]]) / 2)
    return float(cut)


def most_specific(decisions: np.ndarray, hierarchy: Hierarchy) -> np.ndarray:
    """Predicted nodes without a predicted descendant (one sample's bool vector)."""
    decisions = np.asarray(decisions, dtype=bool)
    keep = decisions.copy()
    for child in np.flatnonzero(decisions):
        anc = hierarchy.ancestor_matrix[child].copy()
        anc[child] = False
        keep[anc] = False
    return keep


def decode(
    probabilities: np.ndarray,
    decisions: np.ndarray,
    hierarchy: Hierarchy,
    *,
    labels: Sequence[str],
) -> list[TagPrediction]:
    """Most specific predicted tags of one sample, most probable first.

    An ancestor is dropped when one of its descendants is predicted: moderators review leaf-most
    tags, and the path in each label already names the ancestors.
    """
    probabilities, decisions = _check_sample(probabilities, decisions, hierarchy, labels)
    keep = np.flatnonzero(most_specific(decisions, hierarchy))
    tags = [TagPrediction(int(i), labels[i], float(probabilities[i])) for i in keep]
    return sorted(tags, key=lambda t: (-t.probability, t.label))


def tag_tree(
    probabilities: np.ndarray,
    decisions: np.ndarray,
    hierarchy: Hierarchy,
    *,
    labels: Sequence[str],
    display_floor: float = 0.05,
) -> list[TagTree]:
    """Root-level trees of nodes whose probability is at least ``display_floor`` (or predicted).

    Consistent probabilities make the shown set ancestor-closed, so no shown node is orphaned.
    """
    probabilities, decisions = _check_sample(probabilities, decisions, hierarchy, labels)
    shown = (probabilities >= display_floor) | decisions

    def build(node: int) -> TagTree:
        kids = [build(c) for c in hierarchy.children[node] if shown[c]]
        kids.sort(key=lambda t: (-t.probability, t.label))
        return TagTree(node, labels[node], float(probabilities[node]), bool(decisions[node]), kids)

    trees = [build(r) for r in hierarchy.roots if shown[r]]
    return sorted(trees, key=lambda t: (-t.probability, t.label))


def _check_sample(
    probabilities: np.ndarray, decisions: np.ndarray, hierarchy: Hierarchy, labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    decisions = np.asarray(decisions, dtype=bool)
    n = hierarchy.n_nodes
    if probabilities.shape != (n,) or decisions.shape != (n,) or len(labels) != n:
        raise ValueError(
            f"expected {n} probabilities, decisions and labels; got {probabilities.shape}, "
            f"{decisions.shape}, {len(labels)}"
        )
    return probabilities, decisions
