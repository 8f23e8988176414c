"""Engine: schema creation/upgrade without data loss (and without races between processes on
PostgreSQL), unit-of-work semantics, the file lock."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, event, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from core.config import Settings
from db import engine as engine_module
from db.engine import Database, DatabaseBusyError, SchemaTooNewError, get_database, init_db
from db.locking import FairFileLock
from db.tables import (
    ApiToken,
    PriorityRule,
    QueueRanking,
    RetrainPolicy,
    ReviewPriority,
    SchemaInfo,
    User,
    UserSession,
    Video,
)

ROOT = Path(__file__).resolve().parents[2]


def test_init_is_idempotent_and_keeps_data(database: Database) -> None:
    with database.session() as session:
        session.add(Video(title="keep me", external_id="k1"))
    assert init_db(database) == engine_module.latest_schema_version()
    assert init_db(database) == engine_module.latest_schema_version()
    with database.session() as session:
        assert [v.title for v in session.exec(select(Video))] == ["keep me"]
        assert session.get(SchemaInfo, 1).version == engine_module.latest_schema_version()


def test_upgrade_steps_run_once_in_order_and_keep_data(database: Database, monkeypatch) -> None:
    with database.session() as session:
        session.add(Video(title="v1 row", external_id="old"))
        session.get(SchemaInfo, 1).version = 1  # as if made by the first release
    calls: list[int] = []

    def add_column(connection) -> None:
        calls.append(2)
        connection.execute(text("ALTER TABLE video ADD COLUMN extra_note VARCHAR DEFAULT 'x'"))

    def backfill(connection) -> None:
        calls.append(3)
        connection.execute(text("UPDATE video SET extra_note = 'filled'"))

    monkeypatch.setattr(engine_module, "UPGRADES", [add_column, backfill])
    assert init_db(database) == 3
    assert init_db(database) == 3
    assert calls == [2, 3]
    with database.session() as session:
        rows = session.exec(text("SELECT title, extra_note FROM video")).all()
        assert [tuple(r) for r in rows] == [("v1 row", "filled")]
        assert session.get(SchemaInfo, 1).version == 3


# what the first release's schema lacked (see engine._upgrade_to_2)
_V2_TABLES = [
    "api_token",
    "webhook_subscriber",
    "webhook_delivery",
    "quality_settings",
    "overlap_answer",
    "lead_review",
    "retrain_policy",
    "onscreen_text",
]
_V2_COLUMNS = {("video", "modality_notes_json"), ("transcript", "encoding")}
# what version 2 lacked (engine._upgrade_to_3)
_V3_COLUMNS = {("video", "spoken_language"), ("video", "spoken_language_probability")}
# what version 3 lacked (engine._upgrade_to_4)
_V4_COLUMNS = {("video", "review_rank")}
# what version 4 lacked (engine._upgrade_to_5)
_V5_COLUMNS = {("video", "source_size"), ("video", "source_modified_at")}
# what version 5 lacked (engine._upgrade_to_6)
_V6_COLUMNS = {("retrain_policy", "last_run_at"), ("retrain_policy", "last_run_job_id")}
# what version 6 lacked (engine._upgrade_to_7)
_V7_TABLES = ["queue_ranking"]
_V7_COLUMNS = {("video", "doubt_tag")}
# what version 7 lacked (engine._upgrade_to_8)
_V8_COLUMNS = {("app_user", "languages")}
_V8_INDEXED = {("video", "claimed_by")}  # columns that were there, without an index
# what version 8 lacked on PostgreSQL (engine._upgrade_to_9), outside db.tables, version 9
# (engine._upgrade_to_10: the spoken language's) and version 12 (engine._upgrade_to_13: the
# flagged videos') and version 13 (engine._upgrade_to_14: Review next's order)
_POSTGRES_QUEUE_INDEXES = {
    "ix_video_created_at",
    "ix_video_title_trgm",
    "ix_video_spoken_language",
    "ix_video_flagged",
    "ix_video_review_order",
}
# what version 9 lacked (engine._upgrade_to_10)
_V10_COLUMNS = {("app_user", "sso_identity")}
# what version 10 lacked (engine._upgrade_to_11)
_V11_COLUMNS = {
    ("user_session", "sso_session"),
    ("user_session", "sso_id_token"),
    ("queue_ranking", "neighbour_agreement"),
}
# what version 11 lacked (engine._upgrade_to_12)
_V12_COLUMNS = {("app_user", "external_id")}
# what version 13 lacked (engine._upgrade_to_14)
_V14_TABLES = ["priority_rule"]
_V14_COLUMNS = {("video", "priority"), ("video", "priority_reason"), ("video", "prioritized_at")}
# what version 14 lacked (engine._upgrade_to_15)
_V15_COLUMNS = {("video", "media_deleted_at")}
# what version 15 lacked (engine._upgrade_to_16)
_V16_TABLES = ["review_targets"]


def _rebuild_old_schema(database: Database, version: int) -> None:
    """Replace the schema by what a database at ``version`` looked like, with one video row."""
    missing_tables = (
        (_V2_TABLES if version < 2 else [])
        + (_V7_TABLES if version < 7 else [])
        + (_V14_TABLES if version < 14 else [])
        + (_V16_TABLES if version < 16 else [])
    )
    missing_columns = (
        (_V2_COLUMNS if version < 2 else set())
        | (_V3_COLUMNS if version < 3 else set())
        | (_V4_COLUMNS if version < 4 else set())
        | (_V5_COLUMNS if version < 5 else set())
        | (_V6_COLUMNS if version < 6 else set())
        | (_V7_COLUMNS if version < 7 else set())
        | (_V8_COLUMNS if version < 8 else set())
        | (_V10_COLUMNS if version < 10 else set())
        | (_V11_COLUMNS if version < 11 else set())
        | (_V12_COLUMNS if version < 12 else set())
        | (_V14_COLUMNS if version < 14 else set())
        | (_V15_COLUMNS if version < 15 else set())
    )
    with database.session() as session:
        connection = session.connection()
        SQLModel.metadata.drop_all(connection)
        old = MetaData()
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in missing_tables:
                kept = [
                    c._copy() for c in table.columns if (table.name, c.name) not in missing_columns
                ]
                for column in kept:
                    if version < 8 and (table.name, column.name) in _V8_INDEXED:
                        column.index = False
                Table(table.name, old, *kept)
        old.create_all(connection)
        if version >= 9 and database.backend == "postgresql":  # version 9's two
            for statement in (
                "CREATE INDEX ix_video_created_at ON video (created_at)",
                "CREATE INDEX ix_video_title_trgm ON video USING gin (title gin_trgm_ops)",
            ):
                connection.execute(text(statement))
        if version >= 10 and database.backend == "postgresql":  # version 10's
            connection.execute(
                text("CREATE INDEX ix_video_spoken_language ON video (spoken_language)")
            )
        if version >= 13 and database.backend == "postgresql":  # version 13's
            connection.execute(text("CREATE INDEX ix_video_flagged ON video (id) WHERE flagged"))
        if version >= 14:  # version 14's (PostgreSQL only)
            engine_module.create_postgres_review_order_index(connection)
        session.add(SchemaInfo(id=1, version=version))
        connection.execute(
            old.tables["video"].insert().values(title=f"from v{version}", external_id="old")
        )


def _video_index_names(database: Database) -> set[str]:
    return _index_names(database, "video")


def _index_names(database: Database, table: str) -> set[str]:
    query = (
        "SELECT index_name FROM duckdb_indexes() WHERE table_name = :table"
        if database.is_duckdb
        else "SELECT indexname FROM pg_indexes WHERE tablename = :table"
    )
    with database.session() as session:
        return set(session.exec(text(query), params={"table": table}).scalars())


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
def test_an_old_database_is_upgraded_to_the_current_schema(
    database: Database, version: int
) -> None:
    """Rebuild what a version-1 to -15 database looked like (tables, columns, sequences),
    then ``init_db`` must bring it to exactly what db.tables declares, keeping its rows, plus
    PostgreSQL's queue indexes."""
    _rebuild_old_schema(database, version)
    if version < 4:
        assert "ix_video_review_rank" not in _video_index_names(database)
    if version < 8:
        assert "ix_video_claimed_by" not in _video_index_names(database)
    if version < 9:
        assert not _POSTGRES_QUEUE_INDEXES & _video_index_names(database)
    if version < 13:
        assert "ix_video_flagged" not in _video_index_names(database)
    if version < 14:
        assert "ix_video_review_order" not in _video_index_names(database)
    assert init_db(database) == engine_module.latest_schema_version() == 16
    assert {"ix_video_review_rank", "ix_video_claimed_by"} <= _video_index_names(database)
    postgres_only = _POSTGRES_QUEUE_INDEXES if not database.is_duckdb else set()
    assert _POSTGRES_QUEUE_INDEXES & _video_index_names(database) == postgres_only
    with database.session() as session:
        inspector = inspect(session.connection())
        tables = set(inspector.get_table_names())
        assert set(_V2_TABLES + _V7_TABLES + _V14_TABLES + _V16_TABLES) <= tables
        for table, column in (
            _V2_COLUMNS
            | _V3_COLUMNS
            | _V4_COLUMNS
            | _V5_COLUMNS
            | _V6_COLUMNS
            | _V7_COLUMNS
            | _V8_COLUMNS
            | _V10_COLUMNS
            | _V11_COLUMNS
            | _V12_COLUMNS
            | _V14_COLUMNS
            | _V15_COLUMNS
        ):
            assert column in engine_module._column_names(session.connection(), table)
        session.add(ApiToken(name="t", user_id=1, scope="read", token_hash="h", prefix="p"))
        session.add(
            Video(
                title="after",
                external_id="new",
                modality_notes_json="[]",
                spoken_language="ru",
                spoken_language_probability=0.75,
                review_rank=0,
                doubt_tag="t1",
                source_size=123,
                source_modified_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                priority=ReviewPriority.URGENT,
                priority_reason="reported by 12 users",
                prioritized_at=datetime(2026, 1, 5, tzinfo=UTC),
                media_deleted_at=datetime(2026, 2, 1, tzinfo=UTC),
            )
        )
        session.add(
            RetrainPolicy(id=1, last_run_at=datetime(2026, 1, 2, tzinfo=UTC), last_run_job_id=7)
        )
        session.add(
            QueueRanking(
                id=1,
                ranked_at=datetime(2026, 1, 3, tzinfo=UTC),
                videos=5,
                neighbour_agreement=0.25,
            )
        )
        session.add(PriorityRule(node_id="t1", min_probability=0.5, priority=2))
        session.add(User(username="polyglot", password_hash="h", languages="de,ru"))
        session.add(User(username="sso", password_hash="h", sso_identity="https://idp 1"))
        session.add(User(username="scim", password_hash="h", external_id="00u1abc"))
        session.add(
            UserSession(
                token_hash="h",
                user_id=1,
                expires_at=datetime(2026, 1, 4, tzinfo=UTC),
                sso_session="https://idp sid-1",
                sso_id_token="eyJ.e.s",
            )
        )
    assert "ix_user_session_sso_session" in _index_names(database, "user_session")
    # one account per single sign-on identity
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(User(username="sso2", password_hash="h", sso_identity="https://idp 1"))
    with database.session() as session:
        assert session.exec(select(User.languages).where(User.username == "polyglot")).one() == (
            "de,ru"
        )
        videos = list(session.exec(select(Video).order_by(Video.id)))
        assert [v.title for v in videos] == [f"from v{version}", "after"]
        assert (videos[0].spoken_language, videos[1].spoken_language) == (None, "ru")
        assert videos[1].spoken_language_probability == 0.75
        assert (videos[0].review_rank, videos[1].review_rank) == (None, 0)
        assert (videos[0].doubt_tag, videos[1].doubt_tag) == (None, "t1")
        assert (videos[0].source_size, videos[1].source_size) == (None, 123)
        # the old row is of normal priority, as every video was before
        assert (videos[0].priority, videos[1].priority) == (0, ReviewPriority.URGENT)
        assert videos[1].priority_reason == "reported by 12 users"
        assert videos[1].prioritized_at == datetime(2026, 1, 5, tzinfo=UTC)
        assert videos[1].source_modified_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert session.exec(select(ApiToken)).one().id is not None  # its sequence exists
        assert session.get(RetrainPolicy, 1).last_run_job_id == 7
        assert session.get(QueueRanking, 1).neighbour_agreement == 0.25
        assert session.exec(select(PriorityRule)).one().id is not None  # its sequence exists


def test_a_new_database_has_postgres_s_queue_indexes_and_duckdb_none(database: Database) -> None:
    expected = set() if database.is_duckdb else _POSTGRES_QUEUE_INDEXES
    assert _POSTGRES_QUEUE_INDEXES & _video_index_names(database) == expected


@pytest.mark.postgres
def test_without_pg_trgm_the_database_is_created_and_a_warning_says_why(
    new_postgres_db, monkeypatch, caplog
) -> None:
    """A server whose owner may not create the extension still gets a working database: the
    title search reads every title, and the log says so (the other index is made)."""
    monkeypatch.setattr(engine_module, "TRIGRAM_EXTENSION", "no_such_extension")
    db = Database(new_postgres_db())
    try:
        with caplog.at_level("WARNING", logger="db.engine"):
            assert init_db(db) == engine_module.latest_schema_version()
        assert "no trigram index on video titles" in caplog.text
        assert "no_such_extension" in caplog.text
        assert _POSTGRES_QUEUE_INDEXES & _video_index_names(db) == {
            "ix_video_created_at",
            "ix_video_spoken_language",
            "ix_video_flagged",
            "ix_video_review_order",
        }
        with db.session() as session:
            session.add(Video(title="still searchable"))
        with db.session() as session:
            assert session.exec(select(Video.title)).all() == ["still searchable"]
    finally:
        db.dispose()


def test_failed_upgrade_step_rolls_back_and_keeps_version(database: Database, monkeypatch) -> None:
    def broken(connection) -> None:
        connection.execute(text("UPDATE video SET title = 'changed'"))
        raise RuntimeError("step failed")

    with database.session() as session:
        session.add(Video(title="original"))
        session.get(SchemaInfo, 1).version = 1
    monkeypatch.setattr(engine_module, "UPGRADES", [broken])
    with pytest.raises(RuntimeError):
        init_db(database)
    with database.session() as session:
        assert session.exec(select(Video.title)).one() == "original"
        assert session.get(SchemaInfo, 1).version == 1


def test_newer_schema_is_refused(database: Database) -> None:
    with database.session() as session:
        session.get(SchemaInfo, 1).version = 99
    with pytest.raises(SchemaTooNewError, match="99"):
        init_db(database)


def test_init_creates_every_table(database: Database) -> None:
    with database.session() as session:
        tables = set(inspect(session.connection()).get_table_names())
    assert {
        "schema_info",
        "taxonomy_node",
        "taxonomy_edge",
        "video",
        "transcript",
        "keyframe",
        "embedding",
        "model_version",
        "prediction",
        "label",
        "audit_log",
        "app_user",
        "user_session",
        "login_attempt",
        "job",
    } <= tables


def test_session_rolls_back_on_error(database: Database) -> None:
    with pytest.raises(ZeroDivisionError), database.session() as session:
        session.add(Video(title="never"))
        session.flush()
        raise ZeroDivisionError
    with database.session() as session:
        assert session.exec(select(Video)).all() == []


def test_objects_stay_readable_after_the_session(database: Database) -> None:
    with database.session() as session:
        video = Video(title="t")
        session.add(video)
    assert video.id is not None and video.title == "t"


def test_busy_database_raises_clear_error(duck: Database) -> None:
    impatient = Database(duck.url, lock_timeout_s=0.2)
    held = FairFileLock(Path(f"{duck.path}.lock"), timeout_s=1)
    with held, pytest.raises(DatabaseBusyError, match="busy"), impatient.session():
        pass
    with impatient.session() as session:  # free again
        assert session.exec(select(Video)).all() == []


def test_threads_are_serialised_by_the_lock(duck: Database) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                with duck.session() as session:
                    session.add(Video(title=f"{n}-{i}"))
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with duck.session() as session:
        assert len(session.exec(select(Video)).all()) == 40


def test_file_is_released_between_sessions(duck: Database) -> None:
    """Another DuckDB connection (standing in for another process) can open the file."""
    import duckdb

    with duck.session() as session:
        session.add(Video(title="x"))
    with FairFileLock(Path(f"{duck.path}.lock"), timeout_s=1):
        conn = duckdb.connect(str(duck.path))
        assert conn.execute("SELECT count(*) FROM video").fetchone() == (1,)
        conn.close()


def test_a_unit_of_work_that_commits_per_video_opens_its_connection_once(
    database: Database,
) -> None:
    """Ingest stores a batch of videos in one unit of work, one transaction each. On DuckDB every
    new connection opened the file again and every close checkpointed it (profiled: ~65 of the
    ~140 ms a Ray driver spent storing each video); the transactions now share one connection,
    and each still commits on its own."""
    opened = []
    event.listen(database.engine, "connect", lambda *_: opened.append(1))
    with database.session() as session:
        for title in ("a", "b", "c"):
            session.add(Video(title=title))
            session.commit()
        taken = session.exec(select(Video.id)).first()
        session.expunge_all()
        with pytest.raises(IntegrityError):
            session.add(Video(id=taken, title="clash"))
            session.commit()
        session.rollback()  # only the failed one is undone
    assert len(opened) <= 1  # PostgreSQL's pool may hand out one opened earlier
    with database.session() as session:
        assert sorted(v.title for v in session.exec(select(Video))) == ["a", "b", "c"]


def test_get_database_is_cached_per_url(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert get_database(settings) is get_database(settings)
    other = Settings(data_dir=tmp_path / "other")
    assert get_database(other) is not get_database(settings)


def test_memory_duckdb_is_rejected() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        Database("duckdb:///:memory:")


@pytest.mark.slow
def test_file_held_by_a_foreign_process_is_reported_as_busy(duck: Database) -> None:
    """A process that opened the file without our lock (a duckdb shell) gives a clear error."""
    script = (
        f"import duckdb, time; c = duckdb.connect({str(duck.path)!r}); "
        "print('open', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        busy = pytest.raises(DatabaseBusyError, match="does not use the tagger's lock")
        with busy, duck.session() as session:
            session.exec(select(Video)).all()
    finally:
        holder.kill()
        holder.wait()


_INIT_IN_A_CHILD = """
import sys
from db.engine import Database, init_db

db = Database(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()  # the parent's word: every child starts init_db at the same moment
print(init_db(db), flush=True)
"""


@pytest.mark.slow
@pytest.mark.postgres
def test_first_init_from_processes_at_once_on_postgresql(
    new_postgres_db: Callable[[], str],
) -> None:
    """Processes starting together on an empty database (dashboard and a worker, say) take turns
    creating the schema: all succeed and the schema is complete, not raced over."""
    latest = engine_module.latest_schema_version()
    for _ in range(3):  # a race lost once in three tries is still a race
        url = new_postgres_db()
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _INIT_IN_A_CHILD, url],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for child in children:
            assert child.stdout.readline() == "ready\n", child.stderr.read()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0 and out == f"{latest}\n", err
        db = Database(url)
        with db.session() as session:
            assert set(inspect(session.connection()).get_table_names()) == set(
                SQLModel.metadata.tables
            )
            assert [(row.id, row.version) for row in session.exec(select(SchemaInfo))] == [
                (1, latest)
            ]
        db.dispose()
