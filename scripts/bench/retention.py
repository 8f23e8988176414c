"""How long media retention takes to expire a backlog (``core.retention.expire_media``): the
first pass after an admin turns the setting on deletes the media of every video reviewed before
the period, in units of work of ``core.retention.BATCH`` videos, while moderators save reviews
into the same database (DuckDB has one writer at a time).

Builds a DuckDB with ``--videos`` reviewed videos (reviewed 40 days ago), each with its own
small media file in the media folder, then runs one pass with a 30-day period and prints the
pass's time, the videos per second and the mean time of one unit of work.

    python -m scripts.bench.retention --videos 20000
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from core import retention
from core.config import Settings
from db.engine import get_database, init_db

FILE_BYTES = 1024


def populate(settings: Settings, n: int) -> None:
    """``n`` videos reviewed 40 days ago, video ``i``'s media ``media/bench-i.mp4``."""
    db = get_database(settings)
    init_db(db)
    with db.session() as session:
        session.execute(
            text(
                "INSERT INTO video (external_id, title, description, status, created_at, "
                "updated_at, reviewed_at, version, flagged, content_hash, stored_path) "
                "SELECT 'bench-' || CAST(i AS VARCHAR), 'video ' || CAST(i AS VARCHAR), '', "
                "'reviewed', now(), now(), now() - INTERVAL 40 DAY, 1, false, "
                "'hash-' || CAST(i AS VARCHAR), 'media/bench-' || CAST(i AS VARCHAR) || '.mp4' "
                "FROM range(:n) AS s(i)"
            ),
            {"n": n},
        )
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (settings.media_dir / f"bench-{i}.mp4").write_bytes(b"\0" * FILE_BYTES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=20_000)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-retention-"))
    try:
        settings = Settings(data_dir=work, media_retention_days=30)
        populate(settings, args.videos)
        db = get_database(settings)
        started = time.perf_counter()
        expired = retention.expire_media(db, settings=settings)
        took = time.perf_counter() - started
        batches = -(-expired.videos // retention.BATCH)
        print(f"duckdb, {args.videos:,} reviewed videos past a 30-day period")
        print(expired.describe())
        print(
            f"one pass: {took:.2f} s, {expired.videos / took:,.0f} videos/s; "
            f"{batches} units of work of up to {retention.BATCH}, {took / batches:.3f} s each "
            "(the files deleted after each commit included)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
