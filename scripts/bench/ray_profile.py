"""Where Ray's time goes on one machine (issue 16): the ``ray`` section's demo videos ingested once
in one process and once on a local Ray cluster, each with a breakdown.

- cluster start and connect (outside the ``ray`` section's measured time);
- CPU seconds per process (driver, Ray's daemons, extraction workers with their tesseract runs,
  model actors), sampled from /proc (:class:`CpuMeter`), each one's most threads and peak RSS;
- the Ray side, from ``ray.timeline()``: busy time per operator, the model actor's start-up
  (imports + model loads), its first call, its idle time, the work left after extraction ended;
  the driver's planning, storing and waiting on the cluster; the thread settings an actor sees;
- the single process, from a timed :class:`Pipeline`: time per stage summed over its threads.

    .venv/bin/python -m scripts.bench.ray_profile [--nodes 1] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from core.config import Settings, get_settings
from core.encoders import Encoder
from core.ingest.distributed import ACTOR_CPUS, RayPipeline, connect
from core.ingest.pipeline import Pipeline
from scripts.bench.common import (
    FULL,
    demo_corpus_videos,
    fresh_settings,
    open_database,
    run_folder,
)
from scripts.bench.ray_cluster import CpuMeter, LocalRayCluster

MODEL_ACTORS = "model actor(s)"
EXTRACTION = "extraction workers"
DAEMONS = {  # a marker in the command line -> what the process is
    "raylet/raylet": "raylet",
    "gcs_server": "GCS",
    "DashboardAgent": "dashboard agent",
    "RuntimeEnvAgent": "runtime-env agent",
    "dashboard.py": "dashboard",
    "log_monitor": "log monitor",
    "autoscaler": "autoscaler monitor",
    "bin/ray start": "ray start",
}


class Spans:
    """Seconds per label, summed over threads, and the first span of each label."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self.first: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextmanager
    def span(self, label: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            with self._lock:
                self.total[label] += seconds
                self.count[label] += 1
                self.first.setdefault(label, seconds)

    def lines(self, order: Sequence[str] = ()) -> list[str]:
        """One line per label, those in ``order`` first (a part after its whole)."""
        labels = [label for label in order if label in self.total]
        labels += [label for label in self.total if label not in labels]
        return [
            f"  {label:<28} {self.total[label]:7.1f} s in {self.count[label]:3d} calls "
            f"(first {self.first[label]:.1f} s)"
            for label in labels
        ]


class TimedPipeline(Pipeline):
    """The single-machine pipeline, each stage timed (extraction includes transcription, which
    the extraction threads run; encoding includes the lookup of transcripts in the cache)."""

    spans = Spans()

    def _plan(self, video_ids, sidecars):
        with self.spans.span("plan (driver)"):
            return super()._plan(video_ids, sidecars)

    def _extract(self, task):
        with self.spans.span("extract (+ speech model)"):
            return super()._extract(task)

    def _listen(self, extracted):
        with self.spans.span("  of which transcribe / detect the language"):
            return super()._listen(extracted)

    def _encode_and_store(self, ready):
        with self.spans.span("encode + store"):
            return super()._encode_and_store(ready)

    def _store(self, entries):
        with self.spans.span("  of which store"):
            return super()._store(entries)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            with self.spans.span("load encoder (+ Whisper)"):
                return super().encoder
        return super().encoder


class TimedRayPipeline(RayPipeline):
    """The Ray pipeline with the driver's own work timed; the rest is waiting on the cluster."""

    spans = Spans()

    def _plan(self, video_ids, sidecars):
        with self.spans.span("plan (driver)"):
            return super()._plan(video_ids, sidecars)

    def _store_items(self, work, items):
        with self.spans.span("store (driver)"):
            return super()._store_items(work, items)


def by_role(meter: CpuMeter) -> dict[str, tuple[float, int, int, int]]:
    """Role -> (CPU seconds, processes, most threads of one, highest peak RSS of one in KiB)."""
    out: dict[str, tuple[float, int, int, int]] = {}
    for name, title, cpu, threads, peak_kib in meter.seen.values():
        role = _role(name, title) or "other Ray workers"
        seconds, count, most, peak = out.get(role, (0.0, 0, 0, 0))
        out[role] = (seconds + cpu, count + 1, max(most, threads), max(peak, peak_kib))
    return out


def _role(name: str, title: str) -> str | None:
    """What a process of the cluster does; None when it never said (``ray::IDLE``)."""
    if "_ModelStage" in title or "_TranscribeStage" in title or "_EncodeStage" in title:
        return MODEL_ACTORS
    if "_extract_row" in title:
        return EXTRACTION
    for marker, role in DAEMONS.items():
        if marker in title:
            return f"Ray daemon: {role}"
    if title.startswith("ray::") and title != "ray::IDLE":
        return "Ray Data's own actors"
    return None


def _cpu_self() -> float:
    """CPU seconds of this process and its finished children (tesseract, for OCR)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


def profile_single(videos: Path, work: Path, base: Settings) -> list[str]:
    settings = fresh_settings(base, Path(tempfile.mkdtemp(prefix="single-", dir=work)))
    db = open_database(settings, taxonomy=False)
    from core.ingest.batch import ingest_paths

    cpu = _cpu_self()
    pipeline = TimedPipeline(db, settings, encoder=None, transcriber=None)
    report = ingest_paths(db, [videos], settings=settings, pipeline=pipeline)
    return [
        (
            f"one process: {report.wall_seconds:.1f} s wall, {_cpu_self() - cpu:.1f} CPU s "
            f"({report.totals})"
        ),
        *pipeline.spans.lines(
            (
                "load encoder (+ Whisper)",
                "extract (+ speech model)",
                "  of which transcribe / detect the language",
                "encode + store",
                "  of which store",
            )
        ),
    ]


def profile_ray(videos: Path, work: Path, base: Settings, nodes: int) -> list[str]:
    import ray

    from core.ingest.batch import ingest_paths

    settings = fresh_settings(base, Path(tempfile.mkdtemp(prefix=f"ray{nodes}-", dir=work)))
    db = open_database(settings, taxonomy=False)
    cluster = LocalRayCluster(nodes=nodes, cpus=max(1, (os.cpu_count() or 2) // nodes))
    try:
        started = time.perf_counter()
        cluster.start()
        up = time.perf_counter()
        connect(cluster.address)
        joined = time.perf_counter()
        threads = ray.get(ray.remote(num_cpus=ACTOR_CPUS)(_thread_settings).remote())
        meter = CpuMeter(cluster)
        meter.start()
        cpu = _cpu_self()
        pipeline = TimedRayPipeline(db, settings)
        report = ingest_paths(db, [videos], settings=settings, pipeline=pipeline)
        driver_cpu = _cpu_self() - cpu
        meter.stop()
        time.sleep(2)  # workers report their task events every second
        events = ray.timeline()
    finally:
        ray.shutdown()
        cluster.stop()
    stored = pipeline.spans.total["store (driver)"] + pipeline.spans.total["plan (driver)"]
    lines = [
        f"Ray, {nodes} node(s): {report.wall_seconds:.1f} s wall ({report.totals})",
        f"  cluster start {up - started:.1f} s, connect {joined - up:.1f} s (not in the wall time)",
        f"  a task with num_cpus={ACTOR_CPUS} sees {threads}",
        (
            f"  driver: {driver_cpu:.1f} CPU s; plan + store {stored:.1f} s, registering and "
            f"waiting on the cluster {report.wall_seconds - stored:.1f} s"
        ),
        *pipeline.spans.lines(),
        "  CPU seconds by process (most threads and highest peak RSS of one):",
        f"    {'driver (tagger, Ray Data executor)':<34} {driver_cpu:7.1f}",
    ]
    for role, (seconds, count, most, peak_kib) in sorted(by_role(meter).items()):
        lines.append(
            f"    {role:<34} {seconds:7.1f}  {count} process(es), {most} threads, "
            f"{peak_kib / 1024:.0f} MiB"
        )
    return lines + timeline_lines(events)


def _thread_settings() -> str:
    """What a Ray task sees: Ray sets OMP_NUM_THREADS from its (fractional) CPU request."""
    import torch

    return (
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
        f"torch.get_num_threads()={torch.get_num_threads()}"
    )


def _covered(events: list[dict]) -> float:
    """Microseconds during which at least one of ``events`` ran."""
    covered, reached = 0.0, float("-inf")
    for event in sorted(events, key=lambda e: e["ts"]):
        start, end = max(event["ts"], reached), event["ts"] + event["dur"]
        if end > start:
            covered += end - start
            reached = end
    return covered


def timeline_lines(events: list[dict]) -> list[str]:
    """Busy time per operator, the model actor's start-up and idle time, the tail."""
    ours = [
        e
        for e in events
        if e.get("cat", "").startswith("task::")
        and ("Map(" in e["cat"] or "MapWorker(" in e["cat"])
    ]
    if not ours:
        return ["  (no task events in ray.timeline())"]
    origin = min(e["ts"] for e in ours)
    per_op: dict[str, list[dict]] = defaultdict(list)
    for event in ours:
        per_op[event["cat"].removeprefix("task::")].append(event)
    lines = ["  operators (seconds from the first task event):"]
    for op, spans in sorted(per_op.items(), key=lambda kv: min(e["ts"] for e in kv[1])):
        busy = sum(e["dur"] for e in spans) / 1e6
        first = (min(e["ts"] for e in spans) - origin) / 1e6
        last = (max(e["ts"] + e["dur"] for e in spans) - origin) / 1e6
        lines.append(
            f"    {op:<48} {len(spans):3d} x, busy {busy:6.1f} s, {first:5.1f} -> {last:5.1f}"
        )
    extraction_end = max(
        (e["ts"] + e["dur"] for e in ours if "_extract_row" in e["cat"]), default=origin
    )
    for worker in {e["tid"] for e in ours if "MapWorker(" in e["cat"]}:
        calls = sorted((e for e in ours if e["tid"] == worker), key=lambda e: e["ts"])
        init = [e for e in calls if e["cat"].endswith(".__init__")]
        work = [e for e in calls if e["cat"].endswith(".submit")]
        if not init or not work:
            continue
        ready = init[0]["ts"] + init[0]["dur"]
        end = max(e["ts"] + e["dur"] for e in work)
        busy = _covered(work)  # calls run at once in the actor (MODEL_CALLS) count once
        lines.append(
            f"  actor {worker[-6:]}: start-up {init[0]['dur'] / 1e6:.1f} s (imports, models), "
            f"first call at {(work[0]['ts'] - origin) / 1e6:.1f} s ({work[0]['dur'] / 1e6:.1f} s), "
            f"idle {(end - ready - busy) / 1e6:.1f} s between start-up and its last call, "
            f"{max(0.0, end - extraction_end) / 1e6:.1f} s of work after extraction ended"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1, help="Ray nodes (the CPUs split evenly)")
    parser.add_argument("--work-dir", type=Path, help="keeps the demo corpus for later runs")
    parser.add_argument("--skip-single", action="store_true", help="profile only the Ray side")
    parser.add_argument(
        "--videos", type=int, default=FULL.ingest_videos, help="demo-corpus videos to ingest"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    base = get_settings()
    with run_folder(args.work_dir, "profile") as work:
        videos = demo_corpus_videos(work, args.videos)
        lines = [] if args.skip_single else profile_single(videos, work, base)
        lines += profile_ray(videos, work, base, args.nodes)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
