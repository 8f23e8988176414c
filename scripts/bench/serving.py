"""Benchmark sections for serving (scripts/bench/suite.py): ``queue`` (the queue's queries on
growing databases) and ``memory`` (peak RSS of the dashboard and of ``tagger ingest``)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from core.config import Settings
from db.engine import get_database
from scripts.bench.common import (
    REPO,
    Row,
    Sizes,
    demo_corpus_videos,
    format_mib,
    format_seconds,
    fresh_settings,
    mem_total_gib,
)


def bench_queue(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    """The queue query (count + first page of 50, most informative first) on growing databases.

    Population and timing are scripts.bench.dashboard_pages's (bulk-loaded predicted videos;
    median of several full units of work after a warm-up).
    """
    from scripts.bench import dashboard_pages as bench_dashboard

    timings = {}
    for n in sizes.queue_videos:
        timings[n] = bench_dashboard.measure(_queue_settings(work, base, n), pages=False)
    n0, biggest = sizes.queue_videos[0], sizes.queue_videos[-1]
    first = timings[n0]["queue query"] / 1000
    rows = []
    for n, measured in timings.items():
        seconds = measured["queue query"] / 1000
        at_goal = n >= 1_000_000
        rows.append(
            Row(
                "queue",
                f"queue query (count + first page of 50, most informative first), {n:,} videos",
                format_seconds(seconds),
                f"{n0:,} videos: {format_seconds(first)}" if n != n0 else "-",
                f"{seconds / first:.1f}x for {n / n0:.0f}x videos" if n != n0 else "-",
                "< 200 ms at 1,000,000" if at_goal else "-",
                seconds < 0.2 if at_goal else None,
            )
        )
    filtered = timings[biggest]["queue + search + tag"] / 1000
    plain = timings[biggest]["queue query"] / 1000
    rows.append(
        Row(
            "queue",
            "queue query with a title search and a tag filter (Sports subtree), "
            f"{biggest:,} videos",
            format_seconds(filtered),
            f"unfiltered: {format_seconds(plain)}",
            f"{filtered / plain:.1f}x",
            "< 200 ms at 1,000,000" if biggest >= 1_000_000 else "-",
            filtered < 0.2 if biggest >= 1_000_000 else None,
        )
    )
    return rows


def _queue_settings(work: Path, base: Settings, n: int) -> Settings:
    """Settings of a data dir with ``n`` predicted videos (scripts.bench.dashboard_pages's
    population), built once per run whichever section asks first."""
    from db.queries import videos as videos_q
    from scripts.bench import dashboard_pages as bench_dashboard

    data_dir = work / f"queue-{n}"
    settings = fresh_settings(base, data_dir)
    if (data_dir / "tagger.duckdb").is_file():
        with get_database(settings).session() as session:
            if videos_q.count_videos(session) == n:
                return settings
        raise RuntimeError(f"{data_dir} holds a different database")
    bench_dashboard.populate(settings, n)
    return settings


# Children report their own VmHWM at exit: ru_maxrss from wait4 would include the parent's
# memory (Linux carries the pre-exec high-water mark of the forked parent image into the child).
_PEAK_PRELUDE = textwrap.dedent("""
    import atexit, sys
    _peak_file = sys.argv.pop(1)
    def _write_peak():
        with open("/proc/self/status") as status, open(_peak_file, "w") as out:
            out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
    atexit.register(_write_peak)
""")
_TAGGER = "import runpy\nrunpy.run_module('scripts', run_name='__main__')\n"  # scripts/__main__.py
_APPTEST = textwrap.dedent("""
    from streamlit.testing.v1 import AppTest
    from dashboard import state
    at = AppTest.from_file(sys.argv[1], default_timeout=300)
    at.session_state[state.TOKEN] = sys.stdin.readline().strip()
    at.run()
    if at.exception:
        raise SystemExit(f"the dashboard raised: {at.exception[0].message}")
    titles = [t.value for t in at.title]
    if not any("queue" in t.lower() for t in titles):
        raise SystemExit(f"the queue page did not render; titles: {titles}")
""")


def bench_memory(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    """Peak RSS (the process's own VmHWM) of the dashboard rendering the queue page, and of
    `tagger ingest`."""
    from core import auth
    from scripts.bench import dashboard_pages as bench_dashboard

    n = sizes.queue_videos[-1]
    settings = _queue_settings(work, base, n)
    db = get_database(settings)
    token = auth.authenticate(db, "mod", bench_dashboard.PASSWORD, settings=settings).token
    dashboard_kib, _ = _peak_rss(
        _APPTEST, [str(REPO / "dashboard" / "app.py")], settings, work, stdin=token + "\n"
    )

    videos = demo_corpus_videos(work, sizes.ingest_videos)
    ingest_settings = fresh_settings(
        base, Path(tempfile.mkdtemp(prefix="memory-ingest-", dir=work))
    )  # cold
    ingest_kib, output = _peak_rss(
        _TAGGER, ["ingest", str(videos)], ingest_settings, work, ok_codes=(0, 1)
    )
    if "of video" not in output:
        raise RuntimeError(f"`tagger ingest` did not finish its batch:\n{output[-2000:]}")
    total_kib = mem_total_gib() * 2**20
    return [
        Row(
            "memory",
            "dashboard peak RSS: queue page rendered for a moderator (AppTest process), "
            f"{n:,} videos",
            format_mib(dashboard_kib),
            f"machine RAM {total_kib / 2**20:.0f} GiB",
            f"{dashboard_kib / total_kib:.1%}",
            "< 1 GiB",
            dashboard_kib < 2**20,
        ),
        Row(
            "memory",
            f"`tagger ingest` peak RSS, {sizes.ingest_videos} demo videos (cold)",
            format_mib(ingest_kib),
            f"dashboard: {format_mib(dashboard_kib)}",
            f"{ingest_kib / dashboard_kib:.1f}x",
            "< 2 GiB",
            ingest_kib < 2 * 2**20,
        ),
    ]


def _peak_rss(
    code: str,
    args: list[str],
    settings: Settings,
    work: Path,
    *,
    stdin: str = "",
    ok_codes: tuple[int, ...] = (0,),
) -> tuple[int, str]:
    """Run Python ``code`` in a child using these settings' data dir; its peak RSS (KiB) and
    output."""
    env = {**os.environ, "TAGGER_DATA_DIR": str(settings.data_dir), "HF_HUB_OFFLINE": "1"}
    env.pop("TAGGER_DATABASE_URL", None)
    peak_file = work / f"peak-{time.monotonic_ns()}.txt"
    command = [sys.executable, "-c", _PEAK_PRELUDE + code, str(peak_file), *args]
    result = subprocess.run(
        command, cwd=REPO, env=env, input=stdin, capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    if result.returncode not in ok_codes:
        raise RuntimeError(f"child exited {result.returncode}:\n{output[-2000:]}")
    return int(peak_file.read_text()), output
