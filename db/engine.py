"""Engine, unit-of-work sessions, inter-process locking and schema creation/upgrade.

DuckDB lets exactly one process open a database file read-write, and while it is open no other
process can open it at all. So that the dashboard and CLI jobs (import, ingest, train) can work
on the same file at once, every unit of work on DuckDB:

1. takes the inter-process file lock ``<dbfile>.lock`` (threads of one process queue on it too;
   waiters are served roughly in arrival order, see :mod:`db.locking`),
2. opens a fresh connection (``NullPool``), runs, commits (or rolls back on error); a unit of
   work that commits several times (ingest stores a batch of videos, one transaction each)
   keeps its one connection: closing DuckDB's file checkpoints it, and opening it reads it again,
3. closes the connection, which releases the DuckDB file, then releases the lock.

Units of work must therefore be short: long jobs do their heavy work outside a session and write
results in small sessions. Sessions must not be nested. On PostgreSQL the engine is pooled and
no file lock is taken; schema creation and upgrades there hold a transaction-level advisory lock
instead, so processes starting at once on an empty database do not race on ``CREATE TABLE``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.dialects import registry
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel

from core.config import Settings, get_settings
from core.errors import ConfigurationError, TaggerError
from db.locking import FairFileLock, LockTimeoutError
from db.tables import SchemaInfo, utcnow

logger = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT_S = 120.0
_FOREIGN_LOCK_MESSAGE = "Could not set lock on file"
# PostgreSQL advisory lock key of schema changes: the bytes of "tagger", above the 32-bit range of
# the per-username sign-in locks (hashtext), so the two never meet.
_SCHEMA_LOCK_KEY = int.from_bytes(b"tagger", "big")

# duckdb-engine cannot reflect indexes; create_all only needs has_table(), so the warning is noise.
warnings.filterwarnings("ignore", message="duckdb-engine doesn't yet support reflection on indices")
# "duckdb://" URLs get duckdb-engine's dialect with the compiled-statement cache on
registry.register("duckdb", "db.duckdb_dialect", "CachingDuckDBDialect")


class DatabaseError(TaggerError):
    """Base class of storage errors the UI and CLI report as one line."""


class DatabaseBusyError(DatabaseError):
    """Another process held the database lock for longer than the timeout."""


class SchemaTooNewError(DatabaseError):
    """The database was upgraded by a newer version of this product; refusing to touch it."""


UpgradeStep = Callable[[Connection], None]

# UPGRADES[i] upgrades an existing database from version i + 1 to i + 2, inside one transaction.
# Fresh databases are created from db.tables directly at LATEST version, so a step must bring an
# old database to exactly what the models declare (ALTER TABLE ... ADD COLUMN, create_all of a
# new table with checkfirst, data backfills). Steps never drop user data.


def _add_missing_columns(connection: Connection, table: str, columns: dict[str, str]) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for each of ``columns`` (name -> SQL type) not there yet."""
    present = set(_column_names(connection, table))
    for name, sql_type in columns.items():
        if name not in present:
            connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}"))


def _column_names(connection: Connection, table: str) -> list[str]:
    """From information_schema: duckdb-engine's reflection of columns fails on DuckDB."""
    query = text(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = :table AND table_schema = current_schema()"
    )
    return list(connection.execute(query, {"table": table}).scalars())


def _upgrade_to_2(connection: Connection) -> None:
    """The HTTP API (tokens, webhooks and their outbox), label quality (overlap answers, quality
    settings, lead reviews, retraining policy), on-screen text, and what ingest records about
    damaged inputs (per-modality notes, the subtitle encoding)."""
    new_tables = [
        "api_token",
        "webhook_subscriber",
        "webhook_delivery",
        "quality_settings",
        "overlap_answer",
        "lead_review",
        "retrain_policy",
        "onscreen_text",
    ]
    SQLModel.metadata.create_all(
        connection, tables=[SQLModel.metadata.tables[t] for t in new_tables], checkfirst=True
    )
    _add_missing_columns(connection, "video", {"modality_notes_json": "TEXT"})
    _add_missing_columns(connection, "transcript", {"encoding": "VARCHAR"})


def _upgrade_to_3(connection: Connection) -> None:
    """The spoken language a multilingual Whisper model detected in each video's audio."""
    _add_missing_columns(
        connection,
        "video",
        {"spoken_language": "VARCHAR", "spoken_language_probability": "DOUBLE PRECISION"},
    )


def _upgrade_to_4(connection: Connection) -> None:
    """Each video's position in the review queue's BADGE order (issue 17), and its index."""
    _add_missing_columns(connection, "video", {"review_rank": "INTEGER"})
    connection.execute(
        text("CREATE INDEX IF NOT EXISTS ix_video_review_rank ON video (review_rank)")
    )


def _upgrade_to_5(connection: Connection) -> None:
    """The size and last-modified time of the object each video was ingested from (issue 16)."""
    _add_missing_columns(
        connection,
        "video",
        {"source_size": "BIGINT", "source_modified_at": "TIMESTAMP WITH TIME ZONE"},
    )


def _upgrade_to_6(connection: Connection) -> None:
    """When the retraining policy last started a retrain, and its job (issue 17)."""
    _add_missing_columns(
        connection,
        "retrain_policy",
        {"last_run_at": "TIMESTAMP WITH TIME ZONE", "last_run_job_id": "INTEGER"},
    )


def _upgrade_to_7(connection: Connection) -> None:
    """When the review queue was last ranked, so the server ranks videos that arrived since, and
    each video's most doubtful tag (issue 17)."""
    table = SQLModel.metadata.tables["queue_ranking"]
    SQLModel.metadata.create_all(connection, tables=[table], checkfirst=True)
    _add_missing_columns(connection, "video", {"doubt_tag": "VARCHAR"})


def _upgrade_to_8(connection: Connection) -> None:
    """The spoken languages each account reviews (the queue's language routing), and an index
    on the claim holder: Review next looks up the caller's own claim first, which on
    PostgreSQL scanned the whole video table (156 ms at a million videos)."""
    _add_missing_columns(connection, "app_user", {"languages": "VARCHAR"})
    connection.execute(text("CREATE INDEX IF NOT EXISTS ix_video_claimed_by ON video (claimed_by)"))


def _upgrade_to_9(connection: Connection) -> None:
    """PostgreSQL's indexes for the queue page at a million videos (see
    :func:`create_postgres_queue_indexes`)."""
    create_postgres_queue_indexes(connection)


def _upgrade_to_10(connection: Connection) -> None:
    """The single sign-on identity bound to each account (core/sso.py), one account per
    identity. (A new database declares it UNIQUE; a column added later gets a unique index,
    as DuckDB adds no column with a constraint.) On PostgreSQL, the index on the videos'
    spoken language (:func:`create_postgres_queue_indexes`)."""
    _add_missing_columns(connection, "app_user", {"sso_identity": "VARCHAR"})
    connection.execute(
        text(
            "CREATE UNIQUE INDEX IF NOT EXISTS ix_app_user_sso_identity ON app_user (sso_identity)"
        )
    )
    create_postgres_queue_indexes(connection)


def _upgrade_to_11(connection: Connection) -> None:
    """Which provider session a single sign-on session belongs to, and its ID token
    (core/sso.py: the provider's back-channel logout ends it; the dashboard's sign-out can end
    the provider's). The neighbour agreement a cold start's ranking measured
    (core/lifecycle/review_order.py)."""
    _add_missing_columns(
        connection, "user_session", {"sso_session": "VARCHAR", "sso_id_token": "VARCHAR"}
    )
    _add_missing_columns(connection, "queue_ranking", {"neighbour_agreement": "DOUBLE PRECISION"})
    connection.execute(
        text("CREATE INDEX IF NOT EXISTS ix_user_session_sso_session ON user_session (sso_session)")
    )


def _upgrade_to_12(connection: Connection) -> None:
    """The identity provider's id for each account, as SCIM provisioning sent it."""
    _add_missing_columns(connection, "app_user", {"external_id": "VARCHAR"})


def _upgrade_to_13(connection: Connection) -> None:
    """PostgreSQL's index of the flagged videos (see :func:`create_postgres_queue_indexes`)."""
    create_postgres_queue_indexes(connection)


def _upgrade_to_14(connection: Connection) -> None:
    """Each video's review priority, its reason and since when (Review next serves the highest
    first), PostgreSQL's index of that order (:func:`create_postgres_review_order_index`), and the
    rules that raise it from the model's predictions."""
    table = SQLModel.metadata.tables["priority_rule"]
    SQLModel.metadata.create_all(connection, tables=[table], checkfirst=True)
    # DuckDB adds no column with a constraint; its rows get the default all the same
    not_null = " NOT NULL" if connection.dialect.name == "postgresql" else ""
    _add_missing_columns(
        connection,
        "video",
        {
            "priority": f"INTEGER{not_null} DEFAULT 0",
            "priority_reason": "VARCHAR",
            "prioritized_at": "TIMESTAMP WITH TIME ZONE",
        },
    )
    create_postgres_review_order_index(connection)


def _upgrade_to_15(connection: Connection) -> None:
    """When a reviewed video's media file was deleted by the retention setting."""
    _add_missing_columns(connection, "video", {"media_deleted_at": "TIMESTAMP WITH TIME ZONE"})


def _upgrade_to_16(connection: Connection) -> None:
    """The team's review targets, set by an admin (until then the defaults)."""
    table = SQLModel.metadata.tables["review_targets"]
    SQLModel.metadata.create_all(connection, tables=[table], checkfirst=True)


TRIGRAM_EXTENSION = "pg_trgm"


def create_postgres_queue_indexes(connection: Connection) -> None:
    """PostgreSQL only, beside what db.tables declares: the queue's newest-first order and its
    title search read every row of a million-video table without these (146 and 231-390 ms
    against 24 and 6-9 ms with them, ``scripts/bench/postgres_queue.py``), and so did Review next
    for an account whose review languages are rare in the pool (the queue order's index was
    walked until enough videos in them turned up; the spoken language's index finds them), and
    so did counting the flagged videos (the metrics' scrape) and the queue's flagged-only filter
    (a partial index holds just the few flagged ones).

    The title's trigram index (what ``ILIKE '%words%'`` can use) needs the pg_trgm extension,
    which a database owner may create (a trusted extension since PostgreSQL 13). Where it cannot
    be made the search still works, reading every title, and a warning says why. DuckDB gets
    neither: it has no trigram index, and the queue's reads there are column scans."""
    if connection.dialect.name != "postgresql":
        return
    connection.execute(text("CREATE INDEX IF NOT EXISTS ix_video_created_at ON video (created_at)"))
    connection.execute(
        text("CREATE INDEX IF NOT EXISTS ix_video_spoken_language ON video (spoken_language)")
    )
    connection.execute(
        text("CREATE INDEX IF NOT EXISTS ix_video_flagged ON video (id) WHERE flagged")
    )
    try:
        with connection.begin_nested():
            connection.execute(text(f"CREATE EXTENSION IF NOT EXISTS {TRIGRAM_EXTENSION}"))
            connection.execute(
                text(
                    "CREATE INDEX IF NOT EXISTS ix_video_title_trgm ON video "
                    "USING gin (title gin_trgm_ops)"
                )
            )
    except DBAPIError as e:
        logger.warning(
            "no trigram index on video titles (the queue's title search reads every title): "
            "it or extension %s could not be made: %s",
            TRIGRAM_EXTENSION,
            str(e.orig).strip(),
        )


def create_postgres_review_order_index(connection: Connection) -> None:
    """PostgreSQL only: the queue's default order and Review next's (priority, the time it was
    raised, the learning order) read from an index instead of sorting the pool. DuckDB's reads
    are column scans (and its indexes slow every update of their columns)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                "CREATE INDEX IF NOT EXISTS ix_video_review_order "
                "ON video (priority DESC, prioritized_at, review_rank)"
            )
        )


UPGRADES: list[UpgradeStep] = [
    _upgrade_to_2,
    _upgrade_to_3,
    _upgrade_to_4,
    _upgrade_to_5,
    _upgrade_to_6,
    _upgrade_to_7,
    _upgrade_to_8,
    _upgrade_to_9,
    _upgrade_to_10,
    _upgrade_to_11,
    _upgrade_to_12,
    _upgrade_to_13,
    _upgrade_to_14,
    _upgrade_to_15,
    _upgrade_to_16,
]


def silence_duckdb_teardown_noise() -> None:
    """Point stderr at /dev/null for the rest of the process's life.

    duckdb 2.0's nanobind bindings print dozens of benign "nanobind: leaked N instances" lines
    while the interpreter shuts down (when torch is loaded too). Called at exit (CLI, test
    session), after everything worth saying has been written.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)


def latest_schema_version() -> int:
    return 1 + len(UPGRADES)


class Database:
    """One database (URL) and its engine; ``session()`` is the unit of work."""

    def __init__(self, url: str, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
        parsed = make_url(url)
        self.url = url
        self.backend = parsed.get_backend_name()
        self.lock_timeout_s = lock_timeout_s
        self._lock: FairFileLock | None = None
        if self.backend == "duckdb":
            if not parsed.database or parsed.database == ":memory:":
                raise ConfigurationError(
                    "an in-memory DuckDB cannot be shared between sessions; use a file path"
                )
            self.path: Path | None = Path(parsed.database)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = FairFileLock(
                self.path.with_name(f"{self.path.name}.lock"), timeout_s=lock_timeout_s
            )
            self.engine: Engine = create_engine(url, poolclass=NullPool)
        else:
            self.path = None
            self.engine = create_engine(url, pool_pre_ping=True)

    @property
    def is_duckdb(self) -> bool:
        return self.backend == "duckdb"

    def file_state(self) -> tuple[tuple[int, int, int] | None, ...] | None:
        """Inode, size and modification time of the DuckDB file and of its write-ahead log (None
        for one that does not exist), which every commit by any process changes and a read does
        not: a poller that compares them skips opening the database (~30 ms of CPU) while nothing
        was written. None on PostgreSQL, whose files are not ours to read."""
        if self.path is None:
            return None
        return tuple(
            _stat(path) for path in (self.path, self.path.with_name(f"{self.path.name}.wal"))
        )

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the inter-process lock (DuckDB only)."""
        if self._lock is None:
            yield
            return
        try:
            self._lock.acquire()
        except LockTimeoutError as e:
            raise DatabaseBusyError(
                f"database {self.path} is busy: another process held it for over "
                f"{self.lock_timeout_s:.0f} s"
            ) from e
        try:
            yield
        finally:
            self._lock.release()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A short transaction: commit on success, roll back on error, always release the file.

        Objects stay readable after the block (``expire_on_commit=False``).
        Raises :class:`DatabaseBusyError` if the lock is not obtained within the timeout.
        """
        try:
            with (
                self._exclusive(),
                self.engine.connect() as connection,
                Session(connection, expire_on_commit=False) as session,
            ):
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        except DBAPIError as e:
            if self.is_duckdb and _FOREIGN_LOCK_MESSAGE in str(e):
                raise DatabaseBusyError(
                    f"database {self.path} is open in a process that does not use the tagger's "
                    "lock (e.g. a duckdb shell); close it and retry"
                ) from e
            raise

    def dispose(self) -> None:
        self.engine.dispose()


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


def init_db(db: Database) -> int:
    """Create the schema or upgrade it step by step; idempotent, never drops anything, safe to run
    from several processes at once.

    Returns the schema version the database is at afterwards.
    """
    latest = latest_schema_version()
    current = _advance_schema(db, latest)
    while current < latest:
        current = _advance_schema(db, latest)
    return current


def _advance_schema(db: Database, latest: int) -> int:
    """One transaction holding the schema lock: create a new database at ``latest``, or apply the
    next upgrade step; returns the version the database is at afterwards.

    The version is read under the lock, so a process that waited for another one's creation or
    upgrade sees its result and does not do it again.
    """
    with db.session() as session:
        connection = session.connection()
        _lock_schema(connection)
        has_schema = inspect(connection).has_table(SchemaInfo.__tablename__)
        info = session.get(SchemaInfo, 1) if has_schema else None
        if info is None:  # a new database: create everything at the latest version
            SQLModel.metadata.create_all(connection, checkfirst=True)
            create_postgres_queue_indexes(connection)
            create_postgres_review_order_index(connection)
            session.add(SchemaInfo(id=1, version=latest))
            return latest
        if info.version > latest:
            raise SchemaTooNewError(
                f"database schema is version {info.version}, this code knows up to {latest}; "
                "upgrade the product"
            )
        if info.version < latest:
            UPGRADES[info.version - 1](connection)
            info.version += 1
            info.upgraded_at = utcnow()
        return info.version


def _lock_schema(connection: Connection) -> None:
    """Serialise schema changes between processes until this transaction ends (PostgreSQL; on
    DuckDB the unit of work's file lock already does)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})


_DATABASES: dict[str, Database] = {}
_DATABASES_LOCK = threading.Lock()


def get_database(settings: Settings | None = None) -> Database:
    """The process-wide :class:`Database` for the settings' URL (one engine per URL)."""
    settings = settings or get_settings()
    url = settings.resolved_database_url
    with _DATABASES_LOCK:
        db = _DATABASES.get(url)
        if db is None:
            db = Database(url, lock_timeout_s=settings.db_lock_timeout_s)
            _DATABASES[url] = db
        return db
