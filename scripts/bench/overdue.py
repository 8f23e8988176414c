"""How long the late-review report takes when many raised videos pass their target at once
(``core.overdue.report_overdue``): after an admin shortens a target, or a burst of reports
nobody could review in time. Each unit of work of ``core.overdue.BATCH`` videos holds DuckDB's
one writer while moderators save reviews into the same database.

Builds a DuckDB with ``--videos`` urgent videos raised two hours ago and ``--subscribers``
webhook subscribers, then reports them once and prints the time, the time a video and the mean
time of one unit of work.

    python -m scripts.bench.overdue --videos 5000
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from core import overdue, webhooks
from core.config import Settings
from db.engine import get_database, init_db


def populate(settings: Settings, videos: int, subscribers: int) -> None:
    """``videos`` predicted videos raised to urgent two hours ago, and the subscribers."""
    db = get_database(settings)
    init_db(db)
    with db.session() as session:
        session.execute(
            text(
                "INSERT INTO video (title, description, status, created_at, updated_at, version, "
                "flagged, priority, priority_reason, prioritized_at) "
                "SELECT 'video ' || CAST(i AS VARCHAR), '', 'predicted', now(), now(), 0, false, "
                "2, 'reported', now() - INTERVAL 2 HOUR FROM range(:n) AS s(i)"
            ),
            {"n": videos},
        )
    for n in range(subscribers):
        webhooks.add_subscriber(db, url=f"https://platform-{n}.example/hooks", secret="s" * 20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=5_000)
    parser.add_argument("--subscribers", type=int, default=1)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-overdue-"))
    try:
        settings = Settings(data_dir=work)
        populate(settings, args.videos, args.subscribers)
        db = get_database(settings)
        started = time.perf_counter()
        reported = overdue.report_overdue(db)
        took = time.perf_counter() - started
        batches = -(-reported // overdue.BATCH)
        with db.session() as session:
            queued = session.execute(text("SELECT count(*) FROM webhook_delivery")).scalar_one()
        print(
            f"duckdb, {args.videos:,} urgent videos past their target, "
            f"{args.subscribers} webhook subscriber(s)"
        )
        print(
            f"{reported:,} reported in {took:.2f} s ({took / reported * 1000:.2f} ms a video); "
            f"{batches} units of work of up to {overdue.BATCH}, {took / batches:.3f} s each; "
            f"{queued:,} webhook deliveries queued"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
