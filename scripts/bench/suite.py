"""The product's benchmark suite: ONE markdown table, every figure measured in this run, side by
side.

Each row says what was measured, what it is compared against (measured in the same run, never a
remembered figure) and the goal. Sections:

- ``keyframes``: keyframe sampling vs decoding every frame of 1-minute 720p h264 clips, generated
  and real footage (bigbuckbunny looped), at GOP 48 and 250 (median wall and CPU time);
- ``whisper``: faster-whisper vs openai-whisper, same audio, same size (needs
  TAGGER_OPENAI_WHISPER_CHECKPOINT for the latter; otherwise the row says "not measured"), and
  spoken-language detection alone (subtitled videos) vs transcription, Whisper base;
- ``ingest``: seconds of video per wall second, cold and cached, lite encoders, demo-corpus videos;
- ``retrain``: "click" (``train_model``) to a new active version on synthetic cached embeddings;
- ``queue``: the queue page's queries on 10k / 100k / 1M videos (scripts.bench.dashboard_pages);
- ``memory``: peak RSS of the dashboard rendering the queue page, and of ``tagger ingest``;
- ``ray``: the ingest videos on a local Ray cluster of 1 and 2 nodes vs one process
  (scripts.bench.ray; not in the default run: it starts clusters, ``--only ray``);
- ``ray-backlog``: what each further video costs on one Ray node vs one process, from the ingest
  of the demo corpus and of one three times as large (``--only ray-backlog``).

This module parses the options, runs the sections and prints the table; the sections live in
``bench_pipeline`` (keyframes, whisper, ingest), ``bench_retrain`` and ``bench_serving`` (queue,
memory), what they share in ``bench_common``.

    .venv/bin/python -m scripts.bench.suite                     # everything (< 15 min on 2 cores)
    .venv/bin/python -m scripts.bench.suite --quick --only ingest,retrain --out bench.md
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.config import get_settings
from scripts.bench.common import FULL, QUICK, Row, Section, Sizes, mem_total_gib
from scripts.bench.pipeline import bench_ingest, bench_keyframes, bench_whisper
from scripts.bench.ray import bench_ray, bench_ray_backlog
from scripts.bench.retrain import bench_retrain
from scripts.bench.serving import bench_memory, bench_queue

logger = logging.getLogger("bench")

SECTIONS = (
    "keyframes",
    "whisper",
    "ingest",
    "retrain",
    "queue",
    "memory",
    "ray",
    "ray-backlog",
)
DEFAULT_SECTIONS = SECTIONS[:-2]  # the ray sections start clusters: asked for by name
BENCHES: dict[str, Section] = {
    "keyframes": bench_keyframes,
    "whisper": bench_whisper,
    "ingest": bench_ingest,
    "retrain": bench_retrain,
    "queue": bench_queue,
    "memory": bench_memory,
    "ray": bench_ray,
    "ray-backlog": bench_ray_backlog,
}


@dataclass(frozen=True)
class Options:
    sections: tuple[str, ...]
    quick: bool
    out: Path | None
    work_dir: Path | None

    @property
    def sizes(self) -> Sizes:
        return QUICK if self.quick else FULL


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_SECTIONS),
        help=f"comma-separated sections (default all but the ray ones): {','.join(SECTIONS)}",
    )
    parser.add_argument(
        "--quick", action="store_true", help="CI-sized inputs (minutes, not a quarter hour)"
    )
    parser.add_argument("--out", type=Path, help="also write the table (markdown) to this file")
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="keep each run's databases (run-<time>/) and the reusable demo corpora here "
        "(default: a temp dir, removed afterwards)",
    )
    args = parser.parse_args(argv)
    sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    # always in SECTIONS order (memory reuses the database the queue section populated, if any)
    ordered = tuple(s for s in SECTIONS if s in sections)
    return Options(sections=ordered, quick=args.quick, out=args.out, work_dir=args.work_dir)


# --- table --------------------------------------------------------------------------------------


def machine() -> str:
    """CPU model and core count, as `lscpu` reports them."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=True
        ).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError) as e:
        logger.warning("lscpu failed (%s); using platform.processor()", e)
    return (
        f"{model}, {os.cpu_count()} cores, {mem_total_gib():.0f} GiB RAM, "
        f"Python {platform.python_version()}"
    )


def format_table(rows: Sequence[Row], *, command: str, machine_line: str) -> str:
    """The markdown table with a header naming the command, the machine and the date."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    verdict = {True: "yes", False: "**no**", None: "-"}
    lines = [
        f"Benchmark run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: `{command}`",
        f"Machine: {machine_line}",
        "",
        "| section | measured | value | compared against | ratio | goal | met |",
        "|---|---|---:|---|---:|---|---|",
    ]
    lines += [
        "| "
        + " | ".join(
            cell(c)
            for c in (r.section, r.measure, r.value, r.baseline, r.ratio, r.goal, verdict[r.met])
        )
        + " |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def run(options: Options, *, progress: Callable[[str], None] = print) -> list[Row]:
    """Every selected section in order; a section that fails gets one row saying why (traceback
    logged)."""
    base = get_settings()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tagger-bench-") as tmp:
        # every run measures on fresh databases: a folder of its own inside the work dir
        work = (options.work_dir or Path(tmp)) / f"run-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        work.mkdir(parents=True)
        for section in options.sections:
            started = time.perf_counter()
            progress(f"[bench] {section} ...")
            try:
                produced = BENCHES[section](options.sizes, work, base)
            except Exception as e:  # one broken section must not hide the others' figures
                logger.exception("section %s failed", section)
                produced = [Row(section, "not measured", f"failed: {type(e).__name__}: {e}"[:200])]
            rows.extend(produced)
            progress(f"[bench] {section} done in {time.perf_counter() - started:.0f} s")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    options = parse_args(argv)
    command = " ".join(["python -m scripts.bench.suite", *(sys.argv[1:] if argv is None else argv)])
    rows = run(options, progress=lambda line: print(line, file=sys.stderr, flush=True))
    table = format_table(rows, command=command, machine_line=machine())
    print(table)
    if options.out is not None:
        options.out.write_text(table, encoding="utf-8")
    return 1 if any(r.measure == "not measured" for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
