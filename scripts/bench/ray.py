"""Benchmark section ``ray`` (scripts/bench/suite.py): the same demo videos ingested by one process
and by ``tagger ingest --ray`` on a local Ray cluster of one node (every core) and of two nodes
(half the cores each), each into a fresh data dir with the configured (lite) models.

Both sides load their models inside the measured run (the single process on first use, each Ray
actor in its constructor); starting the cluster is not in Ray's time, as a real cluster is already
up, but is reported beside it. The ratio is Ray's wall time over the single process's: the
overhead on one machine. Beside it, the CPU time each side used (Ray: the driver and every
process of the cluster), which the shared machine's load moves less than wall time. Each Ray run
is compared with a single-process run made just before it, so that a change of load between
them skews the ratio less. scripts/bench/ray_profile.py shows where the difference goes.

    .venv/bin/python -m scripts.bench.suite --only ray
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from core.config import Settings
from scripts.bench.common import Row, Sizes, demo_corpus_videos, fresh_settings, open_database
from scripts.bench.ray_cluster import CpuMeter, LocalRayCluster

OVERHEAD_GOAL = 0.15


def bench_ray(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    from core.ingest.batch import ingest_paths

    videos = demo_corpus_videos(work, sizes.ingest_videos)
    cores = os.cpu_count() or 2
    rows = []
    for nodes in (1, 2):
        settings = fresh_settings(base, Path(tempfile.mkdtemp(prefix="single-", dir=work)))
        db = open_database(settings, taxonomy=False)
        cpu = _cpu_seconds(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)  # tesseract: a child
        single = ingest_paths(db, [videos], settings=settings)
        single_cpu = _cpu_seconds(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) - cpu
        cpus = max(1, cores // nodes)
        report, ray_cpu, start_s = _on_ray(videos, work, base, nodes=nodes, cpus=cpus)
        if report.totals != single.totals:
            raise RuntimeError(f"Ray ingest gave {report.totals}, one process {single.totals}")
        overhead = report.wall_seconds / single.wall_seconds - 1
        rows.append(
            Row(
                "ray",
                f"ingest {len(report.results)} demo videos on Ray, {nodes} node(s) x {cpus} CPU "
                "(actors load their models in the run)",
                f"{report.video_seconds / report.wall_seconds:.1f} s video/s "
                f"({report.video_seconds:.0f} s in {report.wall_seconds:.1f} s, "
                f"{ray_cpu:.0f} CPU s; cluster start {start_s:.1f} s more, not included)",
                f"one process just before: {single.video_seconds / single.wall_seconds:.1f} s "
                f"video/s ({single.wall_seconds:.1f} s, {single_cpu:.0f} CPU s, models loaded "
                "in the run)",
                f"{overhead:+.0%} wall time ({ray_cpu / single_cpu - 1:+.0%} CPU time)",
                f"< +{OVERHEAD_GOAL:.0%}",
                overhead < OVERHEAD_GOAL,
            )
        )
    return rows


def _cpu_seconds(*who: int) -> float:
    return sum(usage.ru_utime + usage.ru_stime for usage in (resource.getrusage(w) for w in who))


def _on_ray(videos: Path, work: Path, base: Settings, *, nodes: int, cpus: int):
    """The ingest report on a fresh local cluster, the CPU seconds it took (driver and every
    cluster process) and the seconds the cluster took to start."""
    import ray

    from core.ingest import distributed
    from core.ingest.batch import ingest_paths

    settings = fresh_settings(base, Path(tempfile.mkdtemp(prefix=f"ray{nodes}-", dir=work)))
    db = open_database(settings, taxonomy=False)
    cluster = LocalRayCluster(nodes=nodes, cpus=cpus)
    try:
        started = time.perf_counter()
        cluster.start()
        distributed.connect(cluster.address)
        start_s = time.perf_counter() - started
        meter = CpuMeter(cluster)
        meter.start()
        cpu = _cpu_seconds(resource.RUSAGE_SELF)
        pipeline = distributed.RayPipeline(db, settings)
        report = ingest_paths(db, [videos], settings=settings, pipeline=pipeline)
        cpu = _cpu_seconds(resource.RUSAGE_SELF) - cpu + meter.stop()
        return report, cpu, start_s
    finally:
        ray.shutdown()
        cluster.stop()
