"""Databases built once per test process and copied for each test that starts from them.

Creating the schema costs ~0.25 s and storing the IAB taxonomy ~0.3 s, and hundreds of tests
start from the same state: each gets a copy instead, a file copy for DuckDB (the file is complete
after every session: the product opens it per session and DuckDB checkpoints on close) and
``CREATE DATABASE ... TEMPLATE`` for PostgreSQL. Creating and upgrading the schema itself is
tested in tests/db/test_engine.py, on fresh databases.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from db.engine import Database, init_db
from tests.support.postgres import fresh_database

Build = Callable[[Database], Any]


class DuckdbTemplates:
    """Named DuckDB files in ``folder``, each built on first use by ``init_db`` then ``build``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def copy_to(self, path: Path, name: str = "schema", build: Build | None = None) -> Any:
        """Put a copy of template ``name`` at ``path``; returns what ``build`` returned when the
        template was made (e.g. the ids of the rows it stored)."""
        with self._lock:
            template = self.folder / f"{name}.duckdb"
            if name not in self._built:
                db = Database(f"duckdb:///{template}")
                init_db(db)
                self._built[name] = build(db) if build is not None else None
                db.dispose()
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template, path)
            return self._built[name]


class PostgresTemplate:
    """A database with the latest schema on the server, copied for each test that asks."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self._name: str | None = None
        self._lock = threading.Lock()

    def new_database(self) -> str:
        """The URL of a new database with the schema (and nothing else)."""
        with self._lock:
            if self._name is None:
                url = fresh_database(self.server_url)
                db = Database(url)
                init_db(db)
                db.dispose()  # a template must have no open connection while it is copied
                self._name = url.rsplit("/", 1)[1]
            return fresh_database(self.server_url, template=self._name)


def duckdb_path(database_url: str) -> Path:
    """The file of a ``duckdb:///PATH`` URL."""
    prefix = "duckdb:///"
    if not database_url.startswith(prefix):
        raise ValueError(f"not a DuckDB file URL: {database_url}")
    return Path(database_url[len(prefix) :])
