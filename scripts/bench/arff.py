"""Reader for the hierarchical multi-label ARFF files of the HMC benchmark collection.

Features: numeric (``?`` -> NaN) and nominal (one-hot; ``?`` -> NaN in every one-hot column, left
to the caller's imputation). The ``@ATTRIBUTE class hierarchical ...`` line lists the hierarchy
either as tree paths (``01/01/03``: 01 -> 01/01 -> 01/01/03, top-level nodes under an implicit
``root``) or as DAG ``parent/child`` pairs (GO files, which name ``root`` explicitly). A row's
labels are separated by ``@``; every ancestor of a label is set positive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.classifier.hierarchy import Hierarchy

ROOT = "root"
_ATTRIBUTE = re.compile(r"@attribute\s+('[^']*'|\"[^\"]*\"|\S+)\s+(.+)$", re.IGNORECASE)
_NUMERIC_TYPES = {"numeric", "real", "integer"}


@dataclass(frozen=True)
class ArffData:
    """One ARFF file: features with NaN for missing, ancestor-closed labels, the hierarchy."""

    features: np.ndarray  # (n, n_features) float64
    labels: np.ndarray  # (n, n_nodes) bool
    hierarchy: Hierarchy
    terms: tuple[str, ...]  # node names: tree paths ("01/01") or GO ids; "root" included
    feature_names: tuple[str, ...]


@dataclass(frozen=True)
class _Attribute:
    name: str
    categories: tuple[str, ...] | None  # None: numeric


def load_arff(path: str | Path, *, dag: bool | None = None) -> ArffData:
    """Parse ``path``; ``dag=None`` infers the hierarchy format (DAG pairs name ``root``)."""
    path = Path(path)
    attributes: list[_Attribute] = []
    class_index, spec, rows = None, None, []
    with path.open(encoding="utf-8", errors="replace") as f:
        in_data = False
        for line_no, raw in enumerate(f, start=1):
            line = raw.strip()
            if in_data:
                line = line.split("%", 1)[0].strip()  # trailing comments; names may hold '%'
                if line:
                    rows.append((line_no, line))
                continue
            if not line or line.startswith("%"):
                continue
            lowered = line.lower()
            if lowered.startswith("@data"):
                in_data = True
            elif lowered.startswith("@attribute"):
                match = _ATTRIBUTE.match(line)
                if match is None:
                    raise ValueError(f"{path}:{line_no}: malformed attribute line")
                name, kind = match.group(1).strip("'\""), match.group(2).strip()
                if kind.lower().startswith("hierarchical"):
                    class_index, spec = len(attributes), kind[len("hierarchical") :].strip()
                    attributes.append(_Attribute(name, None))
                else:
                    attributes.append(_parse_type(name, kind, path, line_no))
    if class_index is None or spec is None:
        raise ValueError(f"{path}: no '@ATTRIBUTE ... hierarchical' class attribute")
    branches = [b.strip() for b in spec.split(",") if b.strip()]
    is_dag = any(ROOT in b.split("/") for b in branches) if dag is None else dag
    terms, parents = _parse_hierarchy(branches, is_dag, path)
    hierarchy = Hierarchy(parents)
    order = sorted(range(len(terms)), key=lambda i: (hierarchy.depth[i], terms[i]))
    position = {old: new for new, old in enumerate(order)}
    hierarchy = Hierarchy([[position[p] for p in parents[old]] for old in order])
    terms = [terms[i] for i in order]
    features, label_sets = _parse_rows(rows, attributes, class_index, path)
    index = {t: i for i, t in enumerate(terms)}
    labels = np.zeros((len(rows), len(terms)), dtype=bool)
    for r, (line_no, names) in enumerate(label_sets):
        for name in names:
            if name not in index:
                raise ValueError(f"{path}:{line_no}: label {name!r} is not in the hierarchy")
            labels[r, index[name]] = True
    feature_names = tuple(
        name
        for i, a in enumerate(attributes)
        if i != class_index
        for name in ([a.name] if a.categories is None else [f"{a.name}={c}" for c in a.categories])
    )
    return ArffData(
        features, hierarchy.close_upward(labels), hierarchy, tuple(terms), feature_names
    )


def _parse_type(name: str, kind: str, path: Path, line_no: int) -> _Attribute:
    if kind.lower() in _NUMERIC_TYPES:
        return _Attribute(name, None)
    if kind.startswith("{") and kind.endswith("}"):
        return _Attribute(name, tuple(c.strip().strip("'\"") for c in kind[1:-1].split(",")))
    raise ValueError(f"{path}:{line_no}: unsupported attribute type {kind!r} for {name!r}")


def _parse_hierarchy(
    branches: list[str], is_dag: bool, path: Path
) -> tuple[list[str], list[list[int]]]:
    """Node names and parent lists from tree paths or DAG ``parent/child`` pairs."""
    index: dict[str, int] = {}
    parents: list[set[int]] = []

    def node(name: str) -> int:
        if name not in index:
            index[name] = len(parents)
            parents.append(set())
        return index[name]

    root = node(ROOT)
    for branch in branches:
        parts = branch.split("/")
        if is_dag:
            if len(parts) != 2:
                raise ValueError(f"{path}: DAG edge {branch!r} is not 'parent/child'")
            parents[node(parts[1])].add(node(parts[0]))
        else:
            above = root
            for depth in range(1, len(parts) + 1):
                current = node("/".join(parts[:depth]))
                parents[current].add(above)
                above = current
    return list(index), [sorted(p) for p in parents]


def _parse_rows(
    rows: list[tuple[int, str]], attributes: list[_Attribute], class_index: int, path: Path
) -> tuple[np.ndarray, list[tuple[int, list[str]]]]:
    width = sum(
        1 if a.categories is None else len(a.categories)
        for i, a in enumerate(attributes)
        if i != class_index
    )
    features = np.empty((len(rows), width))
    label_sets = []
    for r, (line_no, line) in enumerate(rows):
        if line.startswith("{"):
            raise ValueError(f"{path}:{line_no}: sparse ARFF rows are not supported")
        values = [v.strip().strip("'\"") for v in line.split(",")]
        if len(values) != len(attributes):
            raise ValueError(
                f"{path}:{line_no}: {len(values)} values for {len(attributes)} attributes"
            )
        col = 0
        for i, (a, v) in enumerate(zip(attributes, values)):
            if i == class_index:
                label_sets.append((line_no, [lab.strip() for lab in v.split("@") if lab.strip()]))
            elif a.categories is None:
                try:
                    features[r, col] = np.nan if v == "?" else float(v)
                except ValueError as e:
                    raise ValueError(f"{path}:{line_no}: {a.name} = {v!r} is not numeric") from e
                col += 1
            else:
                k = len(a.categories)
                if v == "?":
                    features[r, col : col + k] = np.nan
                elif v in a.categories:
                    features[r, col : col + k] = 0.0
                    features[r, col + a.categories.index(v)] = 1.0
                else:
                    raise ValueError(
                        f"{path}:{line_no}: {a.name} = {v!r} is not one of {a.categories}"
                    )
                col += k
    return features, label_sets
