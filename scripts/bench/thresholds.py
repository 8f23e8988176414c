"""Decision thresholds: the per-node F1-best thresholds alone against the same thresholds under
the floor ``fit`` chooses (``core.classifier.decoding.choose_threshold_floor``), side by side on
one trained model per data set and seed, scored on test rows (hierarchical precision, recall
and F1, Kiritchenko et al.; tags predicted per video against the true count).

Data and training as in ``scripts.bench.active``: an HMC set's pool (a seeded sample of its
training file(s)) or the demo corpus's pool trains the product's classifier on every pool row;
its test rows score it. AU(PRC) does not move (thresholds do not change probabilities): what
changes is which tags a moderator finds ticked and what the API returns as predicted.

Usage::

    python -m scripts.bench.thresholds --datasets Enron_others eisen_FUN --seeds 3
    python -m scripts.bench.thresholds --datasets --demo-data data/demo --retrain product
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.classifier.metrics import hierarchical_prf
from scripts.bench import active

DEFAULT_SETS = ("Enron_others", "Imclef07a_others", "eisen_FUN", "Diatoms_others")


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    tags_per_video: float


@dataclass(frozen=True)
class Row:
    dataset: str
    seed: int
    floor: float  # the floor fit chose
    without_floor: Scores  # the per-node thresholds alone
    with_floor: Scores  # what the classifier predicts
    true_tags_per_video: float
    cpu_seconds: float


def _scores(pool: active.Pool, proba: np.ndarray, thresholds: np.ndarray) -> Scores:
    decisions = proba >= thresholds
    precision, recall, f1 = hierarchical_prf(pool.Y_test, decisions, pool.hierarchy)
    return Scores(precision, recall, f1, float(decisions.sum(axis=1).mean()))


def measure(pool: active.Pool, seed: int, retrain: str) -> Row:
    """Train on the whole pool once; score both threshold sets of that one model."""
    started = time.process_time()
    clf = active._fit(pool, np.arange(pool.n_pool), seed, retrain=retrain)
    proba = clf.predict_proba(pool.X_test)
    return Row(
        pool.name,
        seed,
        clf.threshold_floor_,
        _scores(pool, proba, clf.node_thresholds_),
        _scores(pool, proba, clf.thresholds_),
        float(pool.Y_test.sum(axis=1).mean()),
        time.process_time() - started,
    )


def format_row(r: Row) -> str:
    a, b = r.without_floor, r.with_floor
    return (
        f"| {r.dataset} | {r.seed} | {r.floor:g} | {a.f1:.3f} | {b.f1:.3f} "
        f"| {a.precision:.3f} / {a.recall:.3f} | {b.precision:.3f} / {b.recall:.3f} "
        f"| {a.tags_per_video:.1f} / {b.tags_per_video:.1f} ({r.true_tags_per_video:.1f}) |"
    )


def format_table(rows: Sequence[Row]) -> str:
    lines = [
        (
            "| data set | seed | floor chosen | h-F1 without floor | h-F1 with it | P / R without "
            "| P / R with | tags a video without / with (true) |"
        ),
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    lines.extend(format_row(r) for r in rows)
    gains = np.array([r.with_floor.f1 - r.without_floor.f1 for r in rows])
    if len(gains):
        lines.append(
            f"\nh-F1 with the floor minus without, over {len(gains)} fits: mean "
            f"{gains.mean():+.3f}, range {gains.min():+.3f} to {gains.max():+.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hmc-dir", type=Path, default=Path("/work/shared/benchmarks/hmc"))
    parser.add_argument("--datasets", nargs="*", default=list(DEFAULT_SETS))
    parser.add_argument("--demo-data", type=Path, help="data dir of a `tagger demo` run")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per data set")
    parser.add_argument("--retrain", choices=active.RETRAIN_SETTINGS, default="fast")
    parser.add_argument("--md", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    pools = [active.hmc_pool(args.hmc_dir, name) for name in args.datasets]
    if args.demo_data is not None:
        pools.append(active.demo_pool(args.demo_data))
    rows = []
    for pool in pools:
        for seed in range(args.seeds):
            rows.append(measure(pool, seed, args.retrain))
            print(format_row(rows[-1]), flush=True)
    table = format_table(rows)
    print(table)
    if args.md is not None:
        args.md.write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
