"""A PostgreSQL server for the tests: ``TAGGER_TEST_POSTGRES_URL`` when set, else a throwaway
cluster started from the local binaries (``/usr/lib/postgresql/*/bin``) on a loopback port.

The root conftest holds one :class:`PostgresCluster` for the whole session (fixtures
``postgres_server``, ``postgres_url`` and ``new_postgres_db``); every test gets its own database
from :func:`fresh_database`, so tests never see each other's rows. Under pytest-xdist each worker
is a session with its own cluster: its own temporary directory (data, socket, log) and a port
the kernel picked, so workers never share or collide.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

POSTGRES_URL_ENV = "TAGGER_TEST_POSTGRES_URL"
START_ATTEMPTS = 3


class PostgresCluster:
    """The server the tests use; ``url`` is None (and ``reason`` says why) when there is none."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.reason = ""
        self._dir: Path | None = None
        self._pg_ctl: str | None = None

    def start(self) -> None:
        if os.environ.get(POSTGRES_URL_ENV):
            self.url = os.environ[POSTGRES_URL_ENV]
            return
        initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not initdbs:
            self.reason = f"no PostgreSQL: set {POSTGRES_URL_ENV} or install postgresql binaries"
            return
        bindir = Path(initdbs[-1]).parent
        self._dir = Path(tempfile.mkdtemp(prefix="tagger-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self._dir, "postgres", "postgres")
        data = self._dir / "data"
        self._pg_ctl = str(bindir / "pg_ctl")
        try:
            subprocess.run(
                _as_postgres_user(
                    [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
                ),
                check=True,
                capture_output=True,
                timeout=120,
            )
            port = self._start_on_a_free_port(data)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
            detail = getattr(e, "stderr", b"") or b""
            self.reason = (
                f"could not start a PostgreSQL cluster: {e} {detail.decode(errors='replace')[:300]}"
            )
            return
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _start_on_a_free_port(self, data: Path) -> int:
        """Start the server; the port is free when picked, but another pytest-xdist worker may
        take it before the server binds it: then try a new one."""
        attempts_left = START_ATTEMPTS
        while True:
            port = _free_port()
            options = f"-p {port} -c listen_addresses=127.0.0.1 -k {self._dir} -c fsync=off"
            try:
                subprocess.run(
                    _as_postgres_user(
                        [
                            self._pg_ctl,
                            "-D",
                            str(data),
                            "-o",
                            options,
                            "-w",
                            "-l",
                            str(self._dir / "log"),
                            "start",
                        ]
                    ),
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                return port
            except subprocess.CalledProcessError:
                attempts_left -= 1
                if not attempts_left:
                    raise

    def stop(self) -> None:
        if self._dir is None:
            return
        if self._pg_ctl:
            subprocess.run(
                _as_postgres_user(
                    [self._pg_ctl, "-D", str(self._dir / "data"), "-m", "immediate", "stop"]
                ),
                capture_output=True,
                timeout=60,
                check=False,  # best effort at teardown
            )
        # A session's hundreds of databases are ~100,000 files: removing them took 7-10 s at the
        # very end of each test worker (pytest --durations), so a detached `rm` does it instead.
        subprocess.Popen(
            ["rm", "-rf", str(self._dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


def fresh_database(server_url: str, template: str | None = None) -> str:
    """The URL of a new database on the server: empty, or a copy of database ``template``."""
    name = f"tagger_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template is not None else ""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres_user(args: list[str]) -> list[str]:
    """initdb/pg_ctl refuse to run as root: run them as the `postgres` system user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args
