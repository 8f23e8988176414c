"""Readiness checks (DuckDB and PostgreSQL): what each finds in words, a database that is behind
on its schema, has no taxonomy, is unreachable or does not answer in time, a data folder that is
missing or short of room; and probes sharing one running check."""

from __future__ import annotations

import threading
from pathlib import Path

from core import health
from core.config import Settings
from db.engine import Database, latest_schema_version
from db.tables import SchemaInfo


def test_a_database_with_a_taxonomy_at_the_current_schema_is_ready(database, taxonomy, settings):
    readiness = health.readiness(database, settings)
    assert readiness.ready, readiness.checks
    database_check, storage_check = readiness.checks
    assert database_check.detail == (
        f"{database.backend}, schema {latest_schema_version()}, 5 taxonomy nodes"
    )
    assert storage_check.name == "storage" and "MiB free in" in storage_check.detail


def test_no_schema_no_taxonomy_or_an_older_schema_is_not_ready(database, tmp_path: Path):
    assert health.check_database(database) == health.Check(
        "database", False, "no taxonomy: run `tagger init`"
    )
    with database.session() as session:
        session.get(SchemaInfo, 1).version = latest_schema_version() - 1
    check = health.check_database(database)
    assert not check.ok and "this server writes" in check.detail and "restart" in check.detail
    empty = Database(f"duckdb:///{tmp_path / 'empty.duckdb'}")
    with empty.session():
        pass  # the file exists, no table in it
    assert health.check_database(empty) == health.Check(
        "database", False, "no schema: run `tagger init`"
    )


def test_an_unreachable_postgresql_is_named(tmp_path: Path):
    gone = Database("postgresql+psycopg://tagger@127.0.0.1:1/tagger?connect_timeout=2")
    check = health.check_database(gone)
    assert not check.ok and check.detail.startswith("unreachable: ")
    assert "127.0.0.1" in check.detail or "refused" in check.detail


def test_a_duckdb_held_by_another_process_past_the_lock_timeout_is_busy(tmp_path: Path):
    path = tmp_path / "busy.duckdb"
    holder = Database(f"duckdb:///{path}")
    waiter = Database(f"duckdb:///{path}", lock_timeout_s=0.2)
    with holder.session():  # holds the file lock; the waiter's thread queues behind it
        check = health.check_database(waiter)
    assert not check.ok and "busy" in check.detail


def test_storage_short_of_room_or_missing(settings: Settings):
    settings.min_free_disk_mb = 1 << 40  # a petabyte: no disk here has it
    check = health.check_storage(settings)
    assert not check.ok and "kept for uploads (TAGGER_MIN_FREE_DISK_MB)" in check.detail
    assert check.detail.endswith(
        "; TAGGER_MEDIA_RETENTION_DAYS deletes the media of long-reviewed videos"
    )
    settings.media_retention_days = 30  # set already: nothing to suggest
    assert health.check_storage(settings).detail.endswith("(TAGGER_MIN_FREE_DISK_MB)")
    settings.min_free_disk_mb = 0
    assert health.check_storage(settings).ok
    settings.data_dir = settings.data_dir / "not-there"
    check = health.check_storage(settings)
    assert not check.ok and check.detail.endswith("does not exist")


def test_probes_share_one_running_check_and_answer_in_time():
    release = threading.Event()
    calls = []

    def slow() -> health.Readiness:
        calls.append(1)
        release.wait(10)
        return health.Readiness([health.Check("database", True, "fine")])

    probe = health.ReadinessProbe(slow, wait_s=0.1)
    first, second = probe(), probe()
    assert not first.ready and first.checks[0].detail == "no answer within 0.1 s (busy or hung)"
    assert not second.ready
    assert len(calls) == 1  # the second probe waited on the first's check
    release.set()
    probe.wait_s = 5
    assert probe().ready  # the running check's answer, now it has one
    answered = len(calls)
    assert probe().ready and len(calls) == answered + 1  # an answered check is not reused
