"""Benchmark: cost of the per-unit-of-work open/lock/close on a DuckDB file.

Compares one short read (``get_video``) done through ``Database.session()`` (file lock, new
connection, commit, close) with the same read on a connection held open for the whole run.

    .venv/bin/python scripts/bench_db.py --videos 100000 --repeat 200
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlmodel import Session

from db.engine import Database, init_db
from db.queries import videos


def _timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"duckdb:///{Path(tmp) / 'bench.duckdb'}")
        init_db(db)
        with db.session() as session:
            videos.insert_synthetic_videos(session, n=args.videos)
        rng = random.Random(0)

        def per_session() -> None:
            with db.session() as session:
                videos.get_video(session, video_id=rng.randint(1, args.videos))

        # first, while nothing else keeps the file open (as between units of work in production)
        session_ms = _timed(per_session, args.repeat)
        with Session(db.engine) as held:  # one connection for the whole loop (no lock)
            held.connection()

            def held_open() -> None:
                videos.get_video(held, video_id=rng.randint(1, args.videos))
                held.expunge_all()

            held_ms = _timed(held_open, args.repeat)
        db.dispose()

    size = f"{args.videos:,} videos, {args.repeat} reads"
    print(f"{size}: median per read (ms)")
    print(f"  Database.session() per read : {statistics.median(session_ms):7.2f}  (p90 {sorted(session_ms)[int(0.9 * len(session_ms))]:.2f})")
    print(f"  connection held open        : {statistics.median(held_ms):7.2f}  (p90 {sorted(held_ms)[int(0.9 * len(held_ms))]:.2f})")
    overhead = statistics.median(session_ms) - statistics.median(held_ms)
    ratio = statistics.median(session_ms) / statistics.median(held_ms)
    print(f"  open/lock/close overhead    : {overhead:7.2f} ms per unit of work ({ratio:.1f}x)")


if __name__ == "__main__":
    main()
