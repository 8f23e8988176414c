"""Cost of ranking the review queue (core/lifecycle/review_order.py) on a large synthetic pool.

A DuckDB database in a temporary folder gets ``--videos`` predicted, unreviewed videos with one
random title embedding each (clusters of ``--dim`` columns) and an active classifier with the
product's default shape (``--members`` networks, MLP width ``--width``, ``--nodes`` tags in a
random tree) fitted for a few epochs on random labels: only the shapes set the cost. Then
``rank_review_pool`` runs once, as after a pool-wide prediction run, and its wall and CPU
seconds (in total and per phase: gradients, k-means++ order, database write), the peak RSS of the
process (``ru_maxrss``: it includes torch, the model and the setup) and the RSS just before it
are printed.

The cold start's coverage order instead of BADGE: ``--cold-start-labels-per-tag`` above
``--labelled / --nodes`` (``--labelled`` reviewed videos with embeddings, outside the pool); its
order's phase includes reading the pool's and the labelled videos' joint embeddings.

    PYTHONPATH=$PWD python -m scripts.bench.review_rank --videos 100000 --picks 500
    PYTHONPATH=$PWD python -m scripts.bench.review_rank --videos 100000 --picks 500 \
        --labelled 400 --cold-start-labels-per-tag 3
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from core.classifier import HierarchicalClassifier, Hierarchy
from core.config import Settings
from core.lifecycle import coverage, registry, review_order
from db.engine import Database
from db.queries import model_versions as models_q
from db.queries import videos as videos_q
from scripts.bench.common import fresh_settings, open_database

ENCODER = ("bench", "v1")
FIT_ROWS = 2000
CLUSTERS = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=100_000, help="unreviewed pool size")
    parser.add_argument("--picks", type=int, default=500, help="review_rank_badge_picks")
    parser.add_argument("--memory-mb", type=int, default=256, help="review_rank_memory_mb")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--dim", type=int, default=384, help="title embedding width")
    parser.add_argument(
        "--labelled", type=int, default=0, help="reviewed videos with embeddings, not in the pool"
    )
    parser.add_argument(
        "--cold-start-labels-per-tag",
        type=float,
        default=0.0,
        help="review_cold_start_labels_per_tag (0: BADGE, as before the cold start existed)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench-review-rank-") as work:
        settings = fresh_settings(Settings(), Path(work)).model_copy(
            update={
                "review_rank_badge_picks": args.picks,
                "review_rank_memory_mb": args.memory_mb,
                "review_cold_start_labels_per_tag": args.cold_start_labels_per_tag,
            }
        )
        db = open_database(settings, taxonomy=False)
        centres = rng.standard_normal((CLUSTERS, args.dim)).astype(np.float32)
        started = time.perf_counter()
        model = _register_model(db, settings, args, centres, rng)
        _insert_pool(db, args.videos, args.labelled, centres, rng, model.version_id)
        print(
            f"setup (fit, {args.videos:,} + {args.labelled:,} labelled videos + embeddings): "
            f"{_since(started)}"
        )
        phases = _time_phases()
        rss_before = _rss_mib()
        started, cpu = time.perf_counter(), time.process_time()
        ranked = review_order.rank_review_pool(db, model=model, settings=settings)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        dim = review_order.projection_dim(
            rows=args.videos,
            members=args.members,
            nodes=args.nodes,
            width=args.width,
            budget_bytes=args.memory_mb * 2**20,
        )
        cold_start = args.labelled < args.cold_start_labels_per_tag * args.nodes
        print(
            f"rank_review_pool: {ranked:,} videos ranked ({args.picks} "
            f"{'coverage' if cold_start else 'BADGE'} picks, "
            f"{args.members} members, {args.nodes} tags, width {args.width}, "
            f"projection {dim or 'none (exact)'}) in {seconds:.1f} s ({cpu:.1f} CPU s); "
            f"RSS before {rss_before:.0f} MiB, process peak {_peak_rss_mib():.0f} MiB"
        )
        for name, (wall, cpu) in phases.items():
            print(f"  {name}: {wall:.1f} s ({cpu:.1f} CPU s)")
        db.dispose()


def _time_phases() -> dict[str, tuple[float, float]]:
    """Wrap the steps of ``rank_review_pool`` so that each records its wall and CPU seconds in
    the returned dict (filled as they run)."""
    phases: dict[str, tuple[float, float]] = {}

    def timed(name: str, function: Callable) -> Callable:
        def run(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            result = function(*args, **kwargs)
            so_far = phases.get(name, (0.0, 0.0))  # summed over calls (pool, then labelled)
            phases[name] = (
                so_far[0] + time.perf_counter() - wall,
                so_far[1] + time.process_time() - cpu,
            )
            return result

        return run

    review_order.pool_gradients = timed("gradients (read + embed)", review_order.pool_gradients)
    review_order.badge_order = timed("order (k-means++ + length)", review_order.badge_order)
    review_order._coverage_order = timed(
        "order (coverage: embeddings read + k-means + picks + length)",
        review_order._coverage_order,
    )
    coverage.joint_points = timed("of it, joint embeddings read", coverage.joint_points)
    videos_q.set_review_ranks = timed("write ranks", videos_q.set_review_ranks)
    return phases


def _register_model(
    db: Database,
    settings: Settings,
    args: argparse.Namespace,
    centres: np.ndarray,
    rng: np.random.Generator,
) -> registry.LoadedModel:
    """An active classifier of the asked shape, a few epochs on random tree labels."""
    parents = [[]] + [[int(rng.integers(i))] for i in range(1, args.nodes)]
    hierarchy = Hierarchy(parents)
    X = _titles(centres, FIT_ROWS, rng)
    leaves = rng.integers(args.nodes, size=FIT_ROWS)
    Y = hierarchy.close_upward(np.eye(args.nodes, dtype=bool)[leaves])
    classifier = HierarchicalClassifier(
        n_ensemble=args.members, trunk="mlp", mlp_width=args.width, max_epochs=3, alternatives=()
    ).fit({"title": X}, Y, hierarchy=hierarchy)
    metadata = registry.ModelMetadata(
        encoder_id=ENCODER[0],
        encoder_version=ENCODER[1],
        node_ids=[f"n{i}" for i in range(args.nodes)],
        node_paths=[f"N{i}" for i in range(args.nodes)],
        node_parents=parents,
    )
    with db.session() as session:
        version_id = models_q.create_model_version(
            session, encoder_id=ENCODER[0], encoder_version=ENCODER[1]
        ).id
    registry.register_version(
        db,
        version_id=version_id,
        classifier=classifier,
        metadata=metadata,
        settings=settings,
        user=None,
        activate=True,
    )
    return registry.load_model(db, version_id, settings=settings)


def _insert_pool(
    db: Database,
    n: int,
    labelled: int,
    centres: np.ndarray,
    rng: np.random.Generator,
    version_id: int,
) -> None:
    """``n`` predicted videos of ``version_id`` and ``labelled`` reviewed ones, each with a title
    embedding (DuckDB bulk load)."""
    with db.session() as session:
        videos_q.insert_synthetic_videos(session, n=n + labelled)
        session.execute(
            text("UPDATE video SET status = 'predicted', predicted_model_id = :v"),
            {"v": version_id},
        )
        ids = videos_q.review_pool_ids(session, model_version_id=version_id)
        session.execute(
            text("UPDATE video SET status = 'reviewed', reviewed_at = now() WHERE id <= :last"),
            {"last": ids[labelled - 1] if labelled else -1},
        )
        vectors = _titles(centres, len(ids), rng)
        frame = pd.DataFrame({"video_id": ids, "vector": [row.tobytes() for row in vectors]})
        duck = session.connection().connection.driver_connection
        duck.register("bench_vectors", frame)
        duck.execute(
            "INSERT INTO embedding (video_id, modality, encoder_id, encoder_version, input_hash, "
            "dim, vector, created_at) SELECT video_id, 'title', ?, ?, 'h', ?, vector, now() "
            "FROM bench_vectors",
            [ENCODER[0], ENCODER[1], centres.shape[1]],
        )


def _titles(centres: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-ish vectors around the cluster centres."""
    picked = centres[rng.integers(len(centres), size=n)]
    return (picked + 0.5 * rng.standard_normal(picked.shape, dtype=np.float32)).astype(np.float32)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _since(started: float) -> str:
    return f"{time.perf_counter() - started:.1f} s"


if __name__ == "__main__":
    main()
