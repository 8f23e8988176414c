"""Fixtures of the db tests. Most use the root conftest's ``database`` (every test runs on DuckDB
and on PostgreSQL); ``duck`` is DuckDB only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from db.engine import Database
from tests.support.templates import DuckdbTemplates


@pytest.fixture
def duck(tmp_path: Path, duckdb_templates: DuckdbTemplates) -> Iterator[Database]:
    """DuckDB only, for tests about the file lock and multi-process access."""
    duckdb_templates.copy_to(tmp_path / "test.duckdb")
    db = Database(f"duckdb:///{tmp_path / 'test.duckdb'}")
    yield db
    db.dispose()


@pytest.fixture
def moderator(database: Database):
    """A stored moderator account (password hash is a placeholder; auth is tested in core)."""
    from db.queries import users

    with database.session() as session:
        return users.create_user(session, username="mod", password_hash="x", role="moderator")
