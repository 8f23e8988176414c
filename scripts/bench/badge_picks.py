"""Benchmark: the review queue's k-means++ picks (``core.ranking.gradient_seeds``) on random
gradient factors, the working tree's ``GradientEmbedding`` beside a git revision's, alternating
in one process. Prints the CPU seconds of each (median), their ratio and whether the picks agree:

    python -m scripts.bench.badge_picks --baseline df1ad94 --rows 20000 --picks 200
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from core.classifier import gradient
from core.ranking import gradient_seeds
from scripts.bench.common import module_at

GRADIENT_MODULE = "core/classifier/gradient.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline", required=True, help="git revision whose gradient.py is compared"
    )
    parser.add_argument("--rows", type=int, default=20_000, help="videos in the pool")
    parser.add_argument("--members", type=int, default=5, help="networks in the ensemble")
    parser.add_argument("--dim", type=int, default=335, help="columns of each factor")
    parser.add_argument("--picks", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs per version")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.members, args.rows, args.dim)
    # rows of different gradient lengths, as a model's certain and uncertain rows
    residuals = (rng.standard_normal(shape) * rng.random((1, args.rows, 1))).astype(np.float32)
    hidden = rng.standard_normal(shape).astype(np.float32)
    versions = {
        f"at {args.baseline}": module_at(args.baseline, GRADIENT_MODULE, "gradient_baseline"),
        "working tree": gradient,
    }
    seconds: dict[str, list[float]] = {label: [] for label in versions}
    picks: dict[str, np.ndarray] = {}
    for _ in range(args.repeat):
        for label, module in versions.items():
            factors = module.GradientEmbedding(residuals, hidden)
            start = time.process_time()
            picks[label] = gradient_seeds(factors, args.picks, np.random.default_rng(0))
            seconds[label].append(time.process_time() - start)
    before, after = (statistics.median(seconds[label]) for label in versions)
    print(
        f"{args.picks} picks over {args.rows:,} rows x {args.members} members x {args.dim} "
        f"columns, CPU s (median of {args.repeat}): {' / '.join(versions)} = "
        f"{before:.2f} / {after:.2f}, ratio {after / before:.2f}"
    )
    first, second = picks.values()
    print(f"same picks in the same order: {np.array_equal(first, second)}")


if __name__ == "__main__":
    main()
