"""db/queries/backup.py: rows out in key order, back in with their ids, sequences moved on."""

from __future__ import annotations

from db.engine import Database, init_db
from db.queries import backup as backup_q
from db.queries import users as users_q


def test_rows_go_out_and_back_in_with_their_ids_and_new_ids_follow(
    database: Database, tmp_path
) -> None:
    with database.session() as session:
        for name in ("ann", "bob", "cy"):
            users_q.create_user(session, username=name, password_hash="h", role="moderator")
    with database.session() as session:
        backup_q.use_snapshot(session, duckdb=database.is_duckdb)
        batches = list(backup_q.iter_rows(session, table="app_user", batch_rows=2))
        assert backup_q.count_rows(session)["app_user"] == 3
    assert [len(b) for b in batches] == [2, 1]
    rows = [row for batch in batches for row in batch]
    assert [r["username"] for r in rows] == ["ann", "bob", "cy"]

    other = Database(f"duckdb:///{tmp_path / 'other.duckdb'}")
    init_db(other)
    with other.session() as session:
        assert backup_q.count_rows(session) == {}
        backup_q.insert_rows(session, table="app_user", rows=rows)
        backup_q.advance_sequences(session, table="app_user", duckdb=other.is_duckdb)
    with other.session() as session:
        new = users_q.create_user(session, username="dee", password_hash="h", role="moderator")
        assert new.id > max(r["id"] for r in rows)


def test_every_exported_column_has_a_kind() -> None:
    tables = backup_q.exported_tables()
    assert "schema_info" not in tables and tables.index("app_user") < tables.index("user_session")
    kinds = backup_q.column_kinds(table="app_user")
    assert kinds["id"] == "int" and kinds["username"] == "string"
    assert kinds["disabled"] == "bool" and kinds["created_at"] == "timestamp"
