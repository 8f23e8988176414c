"""`database` fixture: every db test runs on DuckDB (tmp file) and on PostgreSQL.

PostgreSQL comes from ``TAGGER_TEST_POSTGRES_URL`` when set, else a throwaway cluster started
from the local binaries (``/usr/lib/postgresql/*/bin``) on a loopback port for the test session.
Without either, the PostgreSQL parameters are skipped with the reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from db.engine import Database, init_db

_PG_ENV = "TAGGER_TEST_POSTGRES_URL"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres_user(args: list[str]) -> list[str]:
    """initdb/pg_ctl refuse to run as root: run them as the `postgres` system user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


class _Cluster:
    def __init__(self) -> None:
        self.url: str | None = None
        self.reason = ""
        self._dir: Path | None = None
        self._pg_ctl: str | None = None

    def start(self) -> None:
        if os.environ.get(_PG_ENV):
            self.url = os.environ[_PG_ENV]
            return
        initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not initdbs:
            self.reason = f"no PostgreSQL: set {_PG_ENV} or install postgresql binaries"
            return
        bindir = Path(initdbs[-1]).parent
        self._dir = Path(tempfile.mkdtemp(prefix="tagger-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self._dir, "postgres", "postgres")
        port = _free_port()
        data = self._dir / "data"
        self._pg_ctl = str(bindir / "pg_ctl")
        try:
            subprocess.run(
                _as_postgres_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]),
                check=True, capture_output=True, timeout=120,
            )
            options = f"-p {port} -c listen_addresses=127.0.0.1 -k {self._dir} -c fsync=off"
            subprocess.run(
                _as_postgres_user([self._pg_ctl, "-D", str(data), "-o", options, "-w", "-l",
                                   str(self._dir / "log"), "start"]),
                check=True, capture_output=True, timeout=120,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
            detail = getattr(e, "stderr", b"") or b""
            self.reason = f"could not start a PostgreSQL cluster: {e} {detail.decode(errors='replace')[:300]}"
            return
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        if self._dir is None:
            return
        if self._pg_ctl:
            subprocess.run(
                _as_postgres_user([self._pg_ctl, "-D", str(self._dir / "data"), "-m", "immediate", "stop"]),
                capture_output=True, timeout=60, check=False,  # best effort at teardown
            )
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[_Cluster]:
    cluster = _Cluster()
    cluster.start()
    yield cluster
    cluster.stop()


def _fresh_pg_database(server_url: str) -> str:
    """A new empty database on the server, so tests never see each other's rows."""
    name = f"tagger_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An initialised, empty database of each backend."""
    if request.param == "duckdb":
        db = Database(f"duckdb:///{tmp_path / 'test.duckdb'}")
    else:
        server: _Cluster = request.getfixturevalue("postgres_server")
        if server.url is None:
            pytest.skip(server.reason)
        db = Database(_fresh_pg_database(server.url))
    init_db(db)
    yield db
    db.dispose()


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Database]:
    """DuckDB only, for tests about the file lock and multi-process access."""
    db = Database(f"duckdb:///{tmp_path / 'test.duckdb'}")
    init_db(db)
    yield db
    db.dispose()


@pytest.fixture
def taxonomy(database: Database):
    """A small tree stored in ``database``: Sports (Soccer, Golf), News (Politics)."""
    from core.taxonomy import from_paths, save_to_db

    tree = from_paths([["Sports", "Soccer"], ["Sports", "Golf"], ["News", "Politics"]])
    with database.session() as session:
        save_to_db(session, tree)
    return tree


@pytest.fixture
def moderator(database: Database):
    """A stored moderator account (password hash is a placeholder; auth is tested in core)."""
    from db.queries import users

    with database.session() as session:
        return users.create_user(session, username="mod", password_hash="x", role="moderator")
