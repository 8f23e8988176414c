"""Benchmark: cost of the per-unit-of-work open/lock/close on a DuckDB file; with ``--queue``, the
review queue query before and after a change.

By default compares one short read (``get_video``) done through ``Database.session()`` (file
lock, new connection, commit, close) with the same read on a connection held open for the run.

``--queue SIZES`` times ``list_queue`` (count + first page of 50, most informative first), plain and
with a title search + a tag filter (Sports subtree), as full units of work on
scripts.bench.dashboard_pages's populations. ``--baseline REV`` also times
``db/queries/review.py`` as committed at git revision REV, interleaved with the working tree's run
by run so both see the same machine load, and checks that both return the same page.
``--work-dir`` keeps the populated databases and reuses them on the next run.

    .venv/bin/python -m scripts.bench.db_sessions --videos 100000 --repeat 200
    .venv/bin/python -m scripts.bench.db_sessions --queue 10000 100000 1000000 \\
        --baseline HEAD --work-dir /tmp/qbench
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from sqlmodel import Session

from core.config import Settings, get_settings
from db.engine import Database, get_database, init_db
from db.queries import review, videos
from scripts.bench.common import fresh_settings, median_times, module_at

QUEUE_MODULE = "db/queries/review.py"


def _timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _population(work_dir: Path, n: int) -> Settings:
    """A data dir with ``n`` videos of scripts.bench.dashboard_pages's population, built on first
    use."""
    from scripts.bench import dashboard_pages as bench_dashboard

    data_dir = work_dir / f"queue-{n}"
    settings = fresh_settings(get_settings(), data_dir)
    if (data_dir / "tagger.duckdb").is_file():
        with get_database(settings).session() as session:
            if videos.count_videos(session) != n:
                raise SystemExit(
                    f"{data_dir} holds a database of another size; "
                    "remove it or use another --work-dir"
                )
    else:
        bench_dashboard.populate(settings, n)
    return settings


def _compare_queue(
    settings: Settings, modules: dict[str, ModuleType], repeat: int
) -> dict[tuple[str, str], float]:
    """Median ms per (query, module label); the modules alternate inside every repetition."""
    from core import taxonomy as taxonomy_core

    db = get_database(settings)
    sports = taxonomy_core.load_iab3().find("Sports").id
    queries = {"plain": {}, "search + tag": {"search": "piano", "tag": sports}}

    def listing(module: ModuleType, filters: dict) -> Callable[[], object]:
        def run() -> object:
            with db.session() as session:
                return module.list_queue(
                    session, filters=module.QueueFilters(**filters), page=1, page_size=50
                )

        return run

    runs: dict[tuple[str, str], Callable[[], object]] = {}
    for query, filters in queries.items():
        pages = {label: listing(module, filters)() for label, module in modules.items()}
        shown = {
            label: (page.total, [vars(row) for row in page.rows]) for label, page in pages.items()
        }
        if len({repr(page) for page in shown.values()}) != 1:
            totals = {label: total for label, (total, _) in shown.items()}
            raise SystemExit(f"{query}: the modules return different pages (matches: {totals})")
        runs.update({(query, label): listing(module, filters) for label, module in modules.items()})
    return {key: wall * 1000 for key, (wall, _) in median_times(runs, repeat).items()}


def bench_queue(sizes: list[int], *, baseline: str | None, repeat: int, work_dir: Path) -> None:
    """Print a markdown table: the queue query at each size, baseline beside working tree."""
    modules = {"working tree": review}
    if baseline:
        modules = {
            f"at {baseline}": module_at(baseline, QUEUE_MODULE, "review_baseline"),
            **modules,
        }
    labels = list(modules)
    print(
        f"| videos | query | {' | '.join(f'{label} (ms)' for label in labels)} |"
        + (" after / before |" if baseline else "")
    )
    print("|---:|---|" + "---:|" * len(labels) + ("---:|" if baseline else ""))
    for n in sizes:
        timings = _compare_queue(_population(work_dir, n), modules, repeat)
        for query in ("plain", "search + tag"):
            cells = [timings[(query, label)] for label in labels]
            ratio = f" {cells[-1] / cells[0]:.2f}x |" if baseline else ""
            print(
                f"| {n:,} | {query} | " + " | ".join(f"{c:.1f}" for c in cells) + " |" + ratio,
                flush=True,
            )
    print(
        f"\nmedian of {repeat} runs after a warm-up, the modules interleaved; "
        "each run is a full unit of work (opens the DuckDB file). "
        "search + tag: title contains 'piano', tag = the Sports subtree."
    )


def bench_session(n_videos: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"duckdb:///{Path(tmp) / 'bench.duckdb'}")
        init_db(db)
        with db.session() as session:
            videos.insert_synthetic_videos(session, n=n_videos)
        rng = random.Random(0)

        def per_session() -> None:
            with db.session() as session:
                videos.get_video(session, video_id=rng.randint(1, n_videos))

        # first, while nothing else keeps the file open (as between units of work in production)
        session_ms = _timed(per_session, repeat)
        with Session(db.engine) as held:  # one connection for the whole loop (no lock)
            held.connection()

            def held_open() -> None:
                videos.get_video(held, video_id=rng.randint(1, n_videos))
                held.expunge_all()

            held_ms = _timed(held_open, repeat)
        db.dispose()

    size = f"{n_videos:,} videos, {repeat} reads"
    print(f"{size}: median per read (ms)")
    print(
        f"  Database.session() per read : {statistics.median(session_ms):7.2f}  "
        f"(p90 {sorted(session_ms)[int(0.9 * len(session_ms))]:.2f})"
    )
    print(
        f"  connection held open        : {statistics.median(held_ms):7.2f}  "
        f"(p90 {sorted(held_ms)[int(0.9 * len(held_ms))]:.2f})"
    )
    overhead = statistics.median(session_ms) - statistics.median(held_ms)
    ratio = statistics.median(session_ms) / statistics.median(held_ms)
    print(f"  open/lock/close overhead    : {overhead:7.2f} ms per unit of work ({ratio:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs per figure (default 200 reads; 15 queue runs)",
    )
    parser.add_argument(
        "--queue", type=int, nargs="+", metavar="N", help="time the queue query at these sizes"
    )
    parser.add_argument(
        "--baseline", help="with --queue: also time the query module at this git revision"
    )
    parser.add_argument(
        "--work-dir", type=Path, help="with --queue: keep and reuse the populated databases here"
    )
    args = parser.parse_args()
    if args.queue:
        with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
            bench_queue(
                args.queue,
                baseline=args.baseline,
                repeat=args.repeat or 15,
                work_dir=args.work_dir or Path(tmp),
            )
    else:
        bench_session(args.videos, args.repeat or 200)


if __name__ == "__main__":
    main()
