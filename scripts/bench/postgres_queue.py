"""The queue page's reads on PostgreSQL at a platform's size, with and without the indexes
``init_db`` adds there (``db.engine.create_postgres_queue_indexes``), side by side in one run.

Fills an empty database (``--url``; everything in it is replaced) with ``--videos`` videos by
``generate_series``: titles of two words from two 100-word lists plus a number, so one word
matches 1 % of the videos, a pair of words 0.01 %, and "clip 99" 1.1 % (99, 990-999, ...), newest
``created_at`` first by id, every video ranked (``review_rank``, as the ranker leaves a pool), 1 %
flagged, 0.1 % of high and 0.01 % of urgent priority (raised as they arrived), spoken in
English but 2 % in German and 0.1 % with no language detected. Beside the
queue page's reads, Review next's candidates (``claim_candidates``) for an account of any
language, a German-only one and a Japanese-only one (no Japanese video: only the undetected
ones are its). Then each read, median of ``--repeats`` after one warm-up, three times: with the
indexes (made before the load, as ``init_db`` does), with them dropped, with them made again, each
after ``VACUUM ANALYZE`` (what autovacuum does after a bulk load; it also merges the rows a trigram
index holds in its pending list); the review order's index (``create_postgres_review_order_index``)
is dropped and made again with them. Each read's matches are printed too: the three must agree.

    python -m scripts.bench.postgres_queue --url postgresql+psycopg://USER@HOST/EMPTY_DB
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from sqlalchemy import create_engine, text

from core import overdue
from core.auth import CurrentUser
from core.review import CLAIM_CANDIDATES, DEFAULT_CLAIM_STATES
from db.engine import (
    Database,
    create_postgres_queue_indexes,
    create_postgres_review_order_index,
    init_db,
)
from db.queries import review as review_q
from db.queries import users as users_q
from db.queries.review import QueueFilters, list_queue
from db.tables import utcnow

FIRST_WORDS = [f"a{i:02d}" for i in range(100)]
SECOND_WORDS = [f"b{i:02d}" for i in range(100)]
READS: dict[str, QueueFilters] = {
    "default order": QueueFilters(),
    "newest first": QueueFilters(sort="newest"),
    "high and urgent only": QueueFilters(prioritized_only=True),
    "search, a word pair (0.01 %)": QueueFilters(search="a17 b42"),
    "search, one word (1 %)": QueueFilters(search="b42"),
    'search, "clip 99": "clip" in every title (1.1 %)': QueueFilters(search="clip 99"),
}
CLAIMS: dict[str, tuple[str, ...]] = {  # Review next's candidates: account -> its languages
    "Review next, any language": (),
    "Review next, German only (2 %)": ("de",),
    "Review next, Japanese only (none; 0.1 % undetected)": ("ja",),
}
# Review next's candidates under another sort: name -> (the account of CLAIMS, filters); the
# German videos hold no raised one, so that read passes the raised videos by
CLAIM_SORTS: dict[str, tuple[str, QueueFilters]] = {
    "Review next, newest first": ("Review next, any language", QueueFilters(sort="newest")),
    "Review next, German only, newest first (none raised)": (
        "Review next, German only (2 %)",
        QueueFilters(sort="newest"),
    ),
}
# the server's check every minute for raised videos late on their target (core/overdue.py): the
# fill's raised videos arrived over the past days, so each is late and none reported yet
LATE = f"late reviews (core.overdue, at most {overdue.BATCH})"
INDEXES = (
    "ix_video_created_at",
    "ix_video_title_trgm",
    "ix_video_spoken_language",
    "ix_video_review_order",
)


def fill(db: Database, videos: int) -> float:
    """``videos`` rows in one statement; returns the seconds it took."""
    started = time.perf_counter()
    first = "ARRAY[" + ",".join(f"'{w}'" for w in FIRST_WORDS) + "]"
    second = "ARRAY[" + ",".join(f"'{w}'" for w in SECOND_WORDS) + "]"
    with db.session() as session:
        session.exec(
            text(
                "INSERT INTO video (title, description, status, created_at, updated_at, version, "
                "flagged, spoken_language, review_rank, uncertainty, priority, prioritized_at) "
                f"SELECT ({first})[1 + ((i % 100) * 19) % 100] || ' ' "
                f"|| ({second})[1 + (i / 100) % 100]"
                " || ' clip ' || i, '', 'predicted', now() - i * interval '1 second', now(), 0, "
                "i % 100 = 0, CASE WHEN i % 50 = 0 THEN 'de' WHEN i % 1000 = 1 THEN NULL "
                "ELSE 'en' END, i - 1, (i % 997) / 997.0, "
                "CASE WHEN i % 10000 = 7 THEN 2 WHEN i % 1000 = 3 THEN 1 ELSE 0 END, "
                "CASE WHEN i % 1000 = 3 OR i % 10000 = 7 THEN now() - i * interval '1 second' END "
                "FROM generate_series(1, :n) AS i"
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


def measure_all(
    db: Database, accounts: dict[str, CurrentUser], repeats: int
) -> dict[str, tuple[float, int]]:
    """Each read's median milliseconds and its number of matching videos, on new connections
    (as after a restart): psycopg prepares a statement run five times on one connection, and
    PostgreSQL may keep a plan made before an index existed for it."""
    db.engine.dispose()

    def read(filters: QueueFilters) -> Callable[[], int]:
        def run() -> int:
            with db.session() as session:
                return list_queue(session, filters=filters).total

        return run

    def candidates(account: CurrentUser, filters: QueueFilters) -> Callable[[], int]:
        def run() -> int:
            with db.session() as session:
                return len(
                    review_q.claim_candidates(
                        session,
                        filters=filters,
                        statuses=list(DEFAULT_CLAIM_STATES),
                        user=account,
                        now=utcnow(),
                        limit=CLAIM_CANDIDATES,
                    )
                )

        return run

    def late() -> int:
        with db.session() as session:
            targets = review_q.review_targets(session)
            return len(
                review_q.overdue_videos(session, targets=targets, now=utcnow(), limit=overdue.BATCH)
            )

    measured = {name: timed(read(filters), repeats) for name, filters in READS.items()}
    for name, account in accounts.items():
        measured[name] = timed(candidates(account, QueueFilters()), repeats)
    for name, (account, filters) in CLAIM_SORTS.items():
        measured[name] = timed(candidates(accounts[account], filters), repeats)
    measured[LATE] = timed(late, repeats)
    return measured


def add_accounts(db: Database) -> dict[str, CurrentUser]:
    """One account per entry of ``CLAIMS``, with its review languages."""
    accounts = {}
    with db.session() as session:
        for number, (name, languages) in enumerate(CLAIMS.items()):
            user = users_q.create_user(session, username=f"reviewer{number}", password_hash="-")
            users_q.set_languages(session, user_id=user.id, languages=languages)
            accounts[name] = CurrentUser(user.id, user.username, user.role, languages)
    return accounts


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
    accounts = add_accounts(db)
    print(f"{args.videos:,} videos inserted in {fill(db, args.videos):.1f} s", flush=True)
    vacuum(args.url)
    columns = {"with the indexes": measure_all(db, accounts, args.repeats)}
    with db.session() as session:
        for index in INDEXES:
            session.exec(text(f"DROP INDEX IF EXISTS {index}"))
    vacuum(args.url)
    columns["without"] = measure_all(db, accounts, args.repeats)
    started = time.perf_counter()
    with db.session() as session:
        create_postgres_queue_indexes(session.connection())
        create_postgres_review_order_index(session.connection())
    built_s = time.perf_counter() - started
    vacuum(args.url)
    columns["with them again"] = measure_all(db, accounts, args.repeats)
    print(f"indexes made again in {built_s:.1f} s; median of {args.repeats} (ms)\n")
    print("| read | matches | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for name in [*READS, *CLAIMS, *CLAIM_SORTS, LATE]:
        matches = {c[name][1] for c in columns.values()}
        shown = f"{matches.pop():,}" if len(matches) == 1 else f"**disagree: {sorted(matches)}**"
        cells = " | ".join(f"{c[name][0]:.1f}" for c in columns.values())
        print(f"| {name} | {shown} | {cells} |")
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
