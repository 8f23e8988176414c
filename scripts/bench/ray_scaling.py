"""How `ingest --ray` scales with workers on one many-core machine (issue 16).

The same demo videos are ingested on local Ray clusters of 1, 2, 4 and 8 nodes (``--nodes``) of
``--cpus`` CPUs each, one cluster at a time, each into a fresh data dir (nothing cached). Each row
gives the throughput and, against the first row, the speed-up and the efficiency (speed-up over
the growth in CPUs: 1.0 is linear). The cluster starts before the clock, as a real one is up
already; the model actors load their models in the run, as on a fresh cluster. This process is
the driver, as `tagger ingest --ray ADDRESS` is.

Made for a lent machine with many cores (the 2-core development box can only run it small).
The lite encoder on 16 cores, then ImageBind on the GPU (the head node gets it; one model actor
per GPU, so ``--model-actors`` is left alone there):

    python -m scripts.bench.ray_scaling --work-dir DIR --videos 96 --nodes 1 2 4 8 --cpus 2
    python -m scripts.bench.ray_scaling --work-dir DIR --videos 96 --nodes 1 --cpus 16 \\
        --model-actors 1 2 4
    TAGGER_ENCODER=imagebind TAGGER_DEVICE=cuda TAGGER_IMAGEBIND_CHECKPOINT=imagebind_huge.pth \\
        python -m scripts.bench.ray_scaling --work-dir DIR --videos 96 --nodes 1 2 4 8 --cpus 2 \\
        --gpus 1

``--stand-in-models`` runs the same layouts with instant stand-ins for the speech model and the
encoder (scripts/bench/stand_ins.py): if those rows scale and the real ones do not, the models
(their loads per actor, the cores they share) are what does not scale; if neither does, the
machinery (decoding, Ray Data, the driver's store) is.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.config import Settings, get_settings
from core.errors import TaggerError
from core.ingest.distributed import RayPipeline, connect
from core.ingest.stored import DONE_STATUSES
from scripts.bench.common import demo_corpus_videos, fresh_settings, open_database, run_folder
from scripts.bench.ray_cluster import CLOCK_TICKS, CpuMeter, LocalRayCluster
from scripts.bench.ray_profile import EXTRACTION, MODEL_ACTORS, by_role
from scripts.bench.stand_ins import InstantEncoder, InstantTranscriber

STEADY_MIN_VIDEOS = 64


class ScalingError(TaggerError):
    """A layout this machine cannot run without sharing cores between nodes."""


@dataclass(frozen=True)
class Layout:
    """One cluster to measure: ``nodes`` x ``cpus``, at most ``model_actors`` (None: default)."""

    nodes: int
    cpus: int
    model_actors: int | None = None

    @property
    def total_cpus(self) -> int:
        return self.nodes * self.cpus


@dataclass(frozen=True)
class Measured:
    """One layout's ingest: wall time (cluster start not included), the whole machine's busy CPU
    seconds in that time, and what it produced."""

    layout: Layout
    wall_s: float
    cluster_start_s: float
    videos_done: int
    video_seconds: float
    totals: dict[str, int]
    machine_cpu_s: float
    steady_videos_per_s: float | None = None
    failure_reasons: dict[str, int] = field(default_factory=dict)
    driver_cpu_s: float = 0.0
    # CPU seconds of the cluster's processes by role (scripts.bench.ray_profile.by_role)
    cpu_by_role: dict[str, float] = field(default_factory=dict)

    @property
    def videos_per_s(self) -> float:
        return self.videos_done / self.wall_s


def layouts(
    nodes: Sequence[int], cpus: int, model_actors: Sequence[int | None], cores: int
) -> list[Layout]:
    """Every node count with every actor count; refused when a layout needs more cores than the
    machine has (nodes would then share cores, and the rows would measure that)."""
    wanted = [Layout(n, cpus, actors) for n in nodes for actors in model_actors]
    too_big = [layout for layout in wanted if layout.total_cpus > cores]
    if too_big:
        raise ScalingError(
            f"{too_big[0].nodes} node(s) x {cpus} CPUs need {too_big[0].total_cpus} cores; "
            f"this machine has {cores}: pass fewer --nodes or --cpus"
        )
    return wanted


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (/proc/stat: all but idle and iowait).

    Ray's CPU counts are bookkeeping, not limits: a task's decoder or model threads can use more
    cores than its node has. The busy cores over a run show what a layout really used."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(value) for value in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


def steady_rate(finished: Sequence[float]) -> float | None:
    """Videos per second between the first and the third quarter of the videos finished.

    A short job's throughput is mostly its start-up (the cluster's workers import, each model
    actor loads its models) and its last, partly filled batches; a backlog pays those once. The
    middle half shows the rate a long run keeps up. Results arrive in bursts (a model actor's
    batch, the driver's stores of ``STORE_BATCH``), so it takes ``STEADY_MIN_VIDEOS`` videos to
    mean anything; None with fewer."""
    if len(finished) < STEADY_MIN_VIDEOS:
        return None
    times = sorted(finished)
    first, third = len(times) // 4, 3 * len(times) // 4
    return (third - first) / max(times[third] - times[first], 1e-9)


def model_factories(stand_ins: bool) -> dict[str, type]:
    """``RayPipeline``'s model factories: the configured models (none given), or the instant
    stand-ins, which leave decoding, the stages' plumbing and the driver's store to measure."""
    if not stand_ins:
        return {}
    return {"encoder_factory": InstantEncoder, "transcriber_factory": InstantTranscriber}


def measure(
    videos: Path, work: Path, base: Settings, layout: Layout, gpus: int, *, stand_ins: bool = False
) -> Measured:
    """Start the cluster, ingest ``videos`` into a fresh data dir through it, stop it."""
    import ray

    from core.ingest.batch import ingest_paths

    prefix = f"scale-{layout.nodes}x{layout.cpus}-"
    settings = fresh_settings(base, Path(tempfile.mkdtemp(prefix=prefix, dir=work)))
    db = open_database(settings, taxonomy=False)
    cluster = LocalRayCluster(nodes=layout.nodes, cpus=layout.cpus, gpus=gpus)
    try:
        started = time.perf_counter()
        cluster.start()
        cluster_start_s = time.perf_counter() - started
        connect(cluster.address)
        pipeline = RayPipeline(
            db, settings, max_actors=layout.model_actors, **model_factories(stand_ins)
        )
        finished: list[float] = []

        def progress(done: int, _total: int, _label: str) -> None:
            finished.extend([time.perf_counter()] * (done - len(finished)))

        meter = CpuMeter(cluster)
        meter.start()
        cpu_before, driver_before = machine_cpu_seconds(), time.process_time()
        report = ingest_paths(db, [videos], settings=settings, pipeline=pipeline, progress=progress)
        machine_cpu_s = machine_cpu_seconds() - cpu_before
        driver_cpu_s = time.process_time() - driver_before
        meter.stop()
    finally:
        ray.shutdown()
        cluster.stop()
    return Measured(
        layout,
        report.wall_seconds,
        cluster_start_s,
        sum(r.status in DONE_STATUSES for r in report.results),
        report.video_seconds,
        {str(status): count for status, count in report.totals.items()},
        machine_cpu_s,
        steady_rate(finished),
        dict(Counter(result.reason or "" for result in report.failed)),
        driver_cpu_s,
        {role: seconds for role, (seconds, *_) in by_role(meter).items()},
    )


def table(rows: Sequence[Measured]) -> str:
    """Markdown rows; speed-up and efficiency are against the first row."""
    lines = [
        (
            "| nodes x CPUs | model actors | wall | videos/s | s of video/s | speed-up "
            "| efficiency | steady videos/s | steady speed-up | cores busy | cluster start "
            "| statuses |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *(table_row(row, rows[0]) for row in rows),
    ]
    if len({_statuses(row.totals) for row in rows}) > 1:
        lines += ["", "**The layouts disagree on the statuses**: the rows are not comparable."]
    lines += ["", *cpu_table(rows)]
    for row in rows:
        if row.failure_reasons:
            lines += ["", f"Failed on {row.layout.nodes} x {row.layout.cpus}:"]
            lines += [
                f"- {count} x {reason or '(no reason)'}"
                for reason, count in sorted(row.failure_reasons.items(), key=lambda r: -r[1])
            ]
    return "\n".join(lines)


def cpu_table(rows: Sequence[Measured]) -> list[str]:
    """Where each layout's CPU went, per video: the driver, the model actors, the extraction
    workers (with their tesseract runs), Ray's own processes (daemons, Data's actors, idle
    workers) and the rest of the machine. CPU per video that grows with the nodes is work the
    cluster adds (model loads per actor, daemons per node), not work the videos need."""
    lines = [
        "CPU seconds per video done:",
        "",
        (
            "| nodes x CPUs | model actors | driver | model actors' CPU | extraction | Ray's own "
            "| rest of the machine | all |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        actors = row.cpu_by_role.get(MODEL_ACTORS, 0.0)
        extraction = row.cpu_by_role.get(EXTRACTION, 0.0)
        ray_own = sum(row.cpu_by_role.values()) - actors - extraction
        rest = row.machine_cpu_s - row.driver_cpu_s - sum(row.cpu_by_role.values())
        per_video = [
            value / max(row.videos_done, 1)
            for value in (row.driver_cpu_s, actors, extraction, ray_own, rest, row.machine_cpu_s)
        ]
        lines.append(
            f"| {row.layout.nodes} x {row.layout.cpus} | {row.layout.model_actors or 'default'} | "
            + " | ".join(f"{value:.2f}" for value in per_video)
            + " |"
        )
    return lines


def table_row(row: Measured, first: Measured) -> str:
    speed_up = row.videos_per_s / first.videos_per_s
    growth = row.layout.total_cpus / first.layout.total_cpus
    steady, first_steady = row.steady_videos_per_s, first.steady_videos_per_s
    return (
        f"| {row.layout.nodes} x {row.layout.cpus} | {row.layout.model_actors or 'default'} "
        f"| {row.wall_s:.1f} s | {row.videos_per_s:.2f} | {row.video_seconds / row.wall_s:.1f} "
        f"| {speed_up:.2f} | {speed_up / growth:.2f} "
        f"| {'-' if steady is None else f'{steady:.2f}'} "
        f"| {'-' if steady is None or not first_steady else f'{steady / first_steady:.2f}'} "
        f"| {row.machine_cpu_s / row.wall_s:.1f} "
        f"| {row.cluster_start_s:.1f} s "
        f"| {_statuses(row.totals)} |"
    )


def _statuses(totals: dict[str, int]) -> str:
    return ", ".join(f"{status} {count}" for status, count in sorted(totals.items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of each node")
    parser.add_argument(
        "--model-actors",
        type=int,
        nargs="+",
        default=[None],
        help="most model actors (TAGGER_RAY_MODEL_ACTORS), each value a row per node count",
    )
    parser.add_argument("--gpus", type=int, default=0, help="GPUs of the head node")
    parser.add_argument("--videos", type=int, default=96, help="demo-corpus videos to ingest")
    parser.add_argument("--work-dir", type=Path, help="keeps the demo corpus for later runs")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) to this file")
    parser.add_argument(
        "--stand-in-models",
        action="store_true",
        help="instant stand-ins for the speech model and the encoder: measures decoding, the "
        "stages' plumbing, Ray's machinery and the driver's store without the models",
    )
    args = parser.parse_args(argv)
    try:
        wanted = layouts(args.nodes, args.cpus, args.model_actors, os.cpu_count() or 1)
    except ScalingError as e:
        parser.error(str(e))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    base = get_settings()
    with run_folder(args.work_dir, "scaling") as work:
        videos = demo_corpus_videos(work, args.videos)
        rows = []
        for layout in wanted:
            rows.append(
                measure(videos, work, base, layout, args.gpus, stand_ins=args.stand_in_models)
            )
            print(table_row(rows[-1], rows[0]), flush=True)
    print(
        f"\n{args.videos} demo videos, "
        f"{'stand-in models' if args.stand_in_models else f'encoder {base.encoder}'} "
        f"on {base.device}, "
        f"{os.cpu_count()} cores\n\n{table(rows)}"
    )
    if args.out:
        args.out.write_text(table(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
