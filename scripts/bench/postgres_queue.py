"""The queue page's reads on PostgreSQL at a platform's size, with and without the indexes
``init_db`` adds there (``db.engine.create_postgres_queue_indexes``), side by side in one run.

Fills an empty database (``--url``; everything in it is replaced) with ``--videos`` videos by
``generate_series``: titles of two words from two 100-word lists plus a number, so one word
matches 1 % of the videos, a pair of words 0.01 %, and "clip 99" 1.1 % (99, 990-999, ...), newest
``created_at`` first by id, every video ranked (``review_rank``, as the ranker leaves a pool), 1 %
flagged. Then each read, median of ``--repeats`` after one warm-up, three times: with the indexes
(made before the load, as ``init_db`` does), with them dropped, with them made again, each after
``VACUUM ANALYZE`` (what autovacuum does after a bulk load; it also merges the rows a trigram
index holds in its pending list). Each read's matches are printed too: the three must agree.

    python -m scripts.bench.postgres_queue --url postgresql+psycopg://USER@HOST/EMPTY_DB
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from sqlalchemy import create_engine, text

from db.engine import Database, create_postgres_queue_indexes, init_db
from db.queries.review import QueueFilters, list_queue

FIRST_WORDS = [f"a{i:02d}" for i in range(100)]
SECOND_WORDS = [f"b{i:02d}" for i in range(100)]
READS: dict[str, QueueFilters] = {
    "default order": QueueFilters(),
    "newest first": QueueFilters(sort="newest"),
    "search, a word pair (0.01 %)": QueueFilters(search="a17 b42"),
    "search, one word (1 %)": QueueFilters(search="b42"),
    'search, "clip 99": "clip" in every title (1.1 %)': QueueFilters(search="clip 99"),
}
INDEXES = ("ix_video_created_at", "ix_video_title_trgm")


def fill(db: Database, videos: int) -> float:
    """``videos`` rows in one statement; returns the seconds it took."""
    started = time.perf_counter()
    first = "ARRAY[" + ",".join(f"'{w}'" for w in FIRST_WORDS) + "]"
    second = "ARRAY[" + ",".join(f"'{w}'" for w in SECOND_WORDS) + "]"
    with db.session() as session:
        session.exec(
            text(
                "INSERT INTO video (title, description, status, created_at, updated_at, version, "
                "flagged, spoken_language, review_rank, uncertainty) "
                f"SELECT ({first})[1 + ((i % 100) * 19) % 100] || ' ' "
                f"|| ({second})[1 + (i / 100) % 100]"
                " || ' clip ' || i, '', 'predicted', now() - i * interval '1 second', now(), 0, "
                "i % 100 = 0, 'en', i - 1, (i % 997) / 997.0 FROM generate_series(1, :n) AS i"
            ).bindparams(n=videos)
        )
    return time.perf_counter() - started


def vacuum(url: str) -> None:
    """VACUUM ANALYZE outside a transaction, as autovacuum would after a bulk load."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("VACUUM ANALYZE video"))
    engine.dispose()


def timed(read: Callable[[], int], repeats: int) -> tuple[float, int]:
    """Median milliseconds of ``repeats`` calls after one warm-up, and what the call returned."""
    result = read()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def measure_all(db: Database, repeats: int) -> dict[str, tuple[float, int]]:
    """Each read's median milliseconds and its number of matching videos, on new connections
    (as after a restart): psycopg prepares a statement run five times on one connection, and
    PostgreSQL may keep a plan made before an index existed for it."""
    db.engine.dispose()

    def read(filters: QueueFilters) -> Callable[[], int]:
        def run() -> int:
            with db.session() as session:
                return list_queue(session, filters=filters).total

        return run

    return {name: timed(read(filters), repeats) for name, filters in READS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="an empty PostgreSQL database to fill")
    parser.add_argument("--videos", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    db = Database(args.url)
    if db.is_duckdb:
        parser.error("--url must name a PostgreSQL database")
    init_db(db)
    print(f"{args.videos:,} videos inserted in {fill(db, args.videos):.1f} s", flush=True)
    vacuum(args.url)
    columns = {"with the indexes": measure_all(db, args.repeats)}
    with db.session() as session:
        for index in INDEXES:
            session.exec(text(f"DROP INDEX IF EXISTS {index}"))
    vacuum(args.url)
    columns["without"] = measure_all(db, args.repeats)
    started = time.perf_counter()
    with db.session() as session:
        create_postgres_queue_indexes(session.connection())
    built_s = time.perf_counter() - started
    vacuum(args.url)
    columns["with them again"] = measure_all(db, args.repeats)
    print(f"indexes made again in {built_s:.1f} s; median of {args.repeats} (ms)\n")
    print("| read | matches | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for name in READS:
        matches = {c[name][1] for c in columns.values()}
        shown = f"{matches.pop():,}" if len(matches) == 1 else f"**disagree: {sorted(matches)}**"
        cells = " | ".join(f"{c[name][0]:.1f}" for c in columns.values())
        print(f"| {name} | {shown} | {cells} |")
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
