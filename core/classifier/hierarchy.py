"""Label hierarchy (tree or DAG) over node indices ``0..n-1``.

Everything the classifier needs to stay consistent with the taxonomy is derived here once:
ancestor sets (label closure, decoding, hierarchical metrics), depths (per-level thresholds and
metrics), children lists (the max-constraint module) and a topological order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property

import numpy as np


class Hierarchy:
    """Immutable DAG of label nodes; ``parents[i]`` lists the parent indices of node ``i``.

    A tree is the special case of at most one parent per node. Nodes without parents are roots.
    Construction rejects out-of-range indices, self-loops and cycles with a ``ValueError``.
    """

    def __init__(self, parents: Sequence[Sequence[int]]) -> None:
        n = len(parents)
        cleaned: list[tuple[int, ...]] = []
        for node, node_parents in enumerate(parents):
            unique = tuple(sorted({int(p) for p in node_parents}))
            for p in unique:
                if not 0 <= p < n:
                    raise ValueError(f"node {node} has parent {p}, outside 0..{n - 1}")
                if p == node:
                    raise ValueError(f"node {node} is its own parent")
            cleaned.append(unique)
        self._parents = tuple(cleaned)
        self._order = _topological_order(self._parents)

    @classmethod
    def from_edges(cls, edges: Iterable[tuple[int, int]], n_nodes: int) -> Hierarchy:
        """Build from ``(parent, child)`` pairs; nodes without an incoming edge are roots."""
        parents: list[list[int]] = [[] for _ in range(n_nodes)]
        for parent, child in edges:
            if not 0 <= child < n_nodes:
                raise ValueError(f"edge ({parent}, {child}): child outside 0..{n_nodes - 1}")
            parents[child].append(parent)
        return cls(parents)

    def __len__(self) -> int:
        return len(self._parents)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hierarchy) and self._parents == other._parents

    def __hash__(self) -> int:
        return hash(self._parents)

    def __repr__(self) -> str:
        return (
            f"Hierarchy(n_nodes={self.n_nodes}, n_edges={len(self.edges)}, roots={len(self.roots)})"
        )

    @property
    def n_nodes(self) -> int:
        return len(self._parents)

    @property
    def parents(self) -> tuple[tuple[int, ...], ...]:
        return self._parents

    @cached_property
    def children(self) -> tuple[tuple[int, ...], ...]:
        kids: list[list[int]] = [[] for _ in range(self.n_nodes)]
        for child, node_parents in enumerate(self._parents):
            for p in node_parents:
                kids[p].append(child)
        return tuple(tuple(k) for k in kids)

    @cached_property
    def edges(self) -> np.ndarray:
        """``(n_edges, 2)`` int array of ``(parent, child)`` pairs."""
        pairs = [(p, c) for c, ps in enumerate(self._parents) for p in ps]
        return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)

    @property
    def topological_order(self) -> tuple[int, ...]:
        """Every node appears after all of its parents."""
        return self._order

    @cached_property
    def roots(self) -> tuple[int, ...]:
        return tuple(i for i, ps in enumerate(self._parents) if not ps)

    @cached_property
    def leaves(self) -> tuple[int, ...]:
        return tuple(i for i, ks in enumerate(self.children) if not ks)

    @property
    def is_tree(self) -> bool:
        return all(len(ps) <= 1 for ps in self._parents)

    @cached_property
    def depth(self) -> np.ndarray:
        """Level of each node: length of the longest path from a root (roots are 0)."""
        depth = np.zeros(self.n_nodes, dtype=np.int64)
        for node in self._order:
            if self._parents[node]:
                depth[node] = 1 + max(depth[p] for p in self._parents[node])
        depth.setflags(write=False)
        return depth

    @cached_property
    def ancestor_matrix(self) -> np.ndarray:
        """``A[i, j]`` is True when ``j`` is ``i`` itself or one of its ancestors."""
        anc = np.zeros((self.n_nodes, self.n_nodes), dtype=bool)
        for node in self._order:
            anc[node, node] = True
            for p in self._parents[node]:
                anc[node] |= anc[p]
        anc.setflags(write=False)
        return anc

    def close_upward(self, labels: np.ndarray) -> np.ndarray:
        """Add every ancestor of a positive node: ``(n, n_nodes)`` bool -> same shape."""
        labels = np.asarray(labels, dtype=bool)
        self._check_width(labels)
        closed = labels.copy()
        for node in reversed(self._order):  # children before parents: closure climbs all levels
            for p in self._parents[node]:
                closed[:, p] |= closed[:, node]
        return closed

    def violations(self, values: np.ndarray) -> int:
        """How many (sample, edge) pairs have a child's value above its parent's."""
        values = np.asarray(values)
        self._check_width(values)
        if not len(self.edges):
            return 0
        parent, child = self.edges[:, 0], self.edges[:, 1]
        return int(np.count_nonzero(values[:, child] > values[:, parent]))

    def _check_width(self, values: np.ndarray) -> None:
        if values.ndim != 2 or values.shape[1] != self.n_nodes:
            raise ValueError(f"expected shape (n, {self.n_nodes}), got {values.shape}")


def _topological_order(parents: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    """Kahn's algorithm; a cycle raises ``ValueError`` naming the nodes left on it."""
    n = len(parents)
    remaining = [len(ps) for ps in parents]
    children: list[list[int]] = [[] for _ in range(n)]
    for child, ps in enumerate(parents):
        for p in ps:
            children[p].append(child)
    queue = [i for i in range(n) if remaining[i] == 0]
    order: list[int] = []
    while queue:
        node = queue.pop()
        order.append(node)
        for child in children[node]:
            remaining[child] -= 1
            if remaining[child] == 0:
                queue.append(child)
    if len(order) != n:
        stuck = sorted(set(range(n)) - set(order))
        raise ValueError(f"hierarchy has a cycle through nodes {stuck[:10]}")
    return tuple(order)
