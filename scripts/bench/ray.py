"""Benchmark section ``ray`` (scripts/bench/suite.py): the same demo videos ingested by one process
and by ``tagger ingest --ray`` on a local Ray cluster of one node (every core) and of two nodes
(half the cores each), each into a fresh data dir with the configured (lite) models.

Both sides load their models inside the measured run (the single process on first use, each Ray
actor in its constructor); starting the cluster is not measured, as a real cluster is already
up. The ratio is Ray's wall time over the single process's: the overhead on one machine.

    .venv/bin/python -m scripts.bench.suite --only ray
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core.config import Settings
from scripts.bench.common import Row, Sizes, demo_corpus_videos, fresh_settings, open_database
from scripts.bench.ray_cluster import LocalRayCluster

OVERHEAD_GOAL = 0.15


def bench_ray(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    from core.ingest.batch import ingest_paths

    videos = demo_corpus_videos(work, sizes.ingest_videos)
    settings = fresh_settings(base, Path(tempfile.mkdtemp(prefix="single-", dir=work)))
    single = ingest_paths(open_database(settings, taxonomy=False), [videos], settings=settings)
    single_rate = single.video_seconds / single.wall_seconds
    cores = os.cpu_count() or 2
    rows = []
    for nodes in (1, 2):
        cpus = max(1, cores // nodes)
        report = _on_ray(videos, work, base, nodes=nodes, cpus=cpus)
        if report.totals != single.totals:
            raise RuntimeError(f"Ray ingest gave {report.totals}, one process {single.totals}")
        overhead = report.wall_seconds / single.wall_seconds - 1
        rows.append(
            Row(
                "ray",
                f"ingest {len(report.results)} demo videos on Ray, {nodes} node(s) x {cpus} CPU "
                "(cluster up beforehand; actors load their models in the run)",
                f"{report.video_seconds / report.wall_seconds:.1f} s video/s "
                f"({report.video_seconds:.0f} s in {report.wall_seconds:.1f} s)",
                f"one process: {single_rate:.1f} s video/s ({single.wall_seconds:.1f} s, "
                "models loaded in the run)",
                f"{overhead:+.0%} wall time",
                f"< +{OVERHEAD_GOAL:.0%}",
                overhead < OVERHEAD_GOAL,
            )
        )
    return rows


def _on_ray(videos: Path, work: Path, base: Settings, *, nodes: int, cpus: int):
    import ray

    from core.ingest import distributed
    from core.ingest.batch import ingest_paths

    settings = fresh_settings(base, Path(tempfile.mkdtemp(prefix=f"ray{nodes}-", dir=work)))
    db = open_database(settings, taxonomy=False)
    cluster = LocalRayCluster(nodes=nodes, cpus=cpus)
    try:
        cluster.start()
        distributed.connect(cluster.address)
        pipeline = distributed.RayPipeline(db, settings)
        return ingest_paths(db, [videos], settings=settings, pipeline=pipeline)
    finally:
        ray.shutdown()
        cluster.stop()
