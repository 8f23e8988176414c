"""Whether this server can take work, for load balancers and orchestrators (``GET
/api/v1/ready``): the database answers at the schema this code writes and holds a taxonomy, and
the data folder takes files with room to spare. Each check says what it found in words, so a
failed probe names its cause in the orchestrator's events. (Whether the process itself is alive
is ``GET /api/v1/health``: its background threads, :class:`core.background.Background`.)"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from core.config import Settings
from core.errors import TaggerError
from db.engine import Database, latest_schema_version
from db.queries import operations
from db.queries import taxonomy as taxonomy_q


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # what was found, in words


@dataclass(frozen=True)
class Readiness:
    checks: list[Check]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)


def check_database(db: Database) -> Check:
    """One unit of work: the schema's version and the taxonomy's size (a DuckDB file that is
    not there is reported, not created)."""
    if db.path is not None and not db.path.exists():
        return Check("database", False, f"no database at {db.path}: run `tagger init`")
    try:
        with db.session() as session:
            version = operations.schema_version(session)
            nodes = taxonomy_q.count_nodes(session) if version is not None else 0
    except TaggerError as e:  # busy past the lock timeout, a schema too new
        return Check("database", False, str(e))
    except DBAPIError as e:  # PostgreSQL down or refusing: the driver's first line says why
        said = str(e.orig).strip().splitlines() or [type(e.orig).__name__]
        return Check("database", False, f"unreachable: {said[0]}")
    latest = latest_schema_version()
    if version is None:
        return Check("database", False, "no schema: run `tagger init`")
    if version != latest:
        return Check(
            "database",
            False,
            f"schema version {version}, this server writes {latest}: restart it to upgrade",
        )
    if nodes == 0:
        return Check("database", False, "no taxonomy: run `tagger init`")
    return Check("database", True, f"{db.backend}, schema {version}, {nodes:,} taxonomy nodes")


def check_storage(settings: Settings) -> Check:
    """The data folder (uploads, thumbnails, models) is writable and has
    ``min_free_disk_mb`` free: an upload of a long video needs its size again while it is
    stored."""
    folder = settings.data_dir
    if not folder.is_dir():
        return Check("storage", False, f"data folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        return Check("storage", False, f"data folder {folder} is not writable by this server")
    free_mib = shutil.disk_usage(folder).free / (1 << 20)
    if free_mib < settings.min_free_disk_mb:
        return Check(
            "storage",
            False,
            f"{free_mib:,.0f} MiB free in {folder}, under the {settings.min_free_disk_mb:,} MiB "
            "kept for uploads (TAGGER_MIN_FREE_DISK_MB)"
            + (
                ""
                if settings.media_retention_days
                else "; TAGGER_MEDIA_RETENTION_DAYS deletes the media of long-reviewed videos"
            ),
        )
    return Check("storage", True, f"{free_mib:,.0f} MiB free in {folder}")


def readiness(db: Database, settings: Settings) -> Readiness:
    return Readiness([check_database(db), check_storage(settings)])


class ReadinessProbe:
    """:func:`readiness` answered within ``wait_s``: probes that arrive while a check runs
    share it (a database waiting on its lock holds one thread, not one per probe), and a check
    past ``wait_s`` answers "not ready" with that reason while it goes on."""

    def __init__(self, check: Callable[[], Readiness], *, wait_s: float) -> None:
        self.check = check
        self.wait_s = wait_s
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="readiness")
        self._running: Future[Readiness] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Readiness:
        with self._lock:
            if self._running is None or self._running.done():
                self._running = self._worker.submit(self.check)
            running = self._running
        try:
            return running.result(timeout=self.wait_s)
        except FutureTimeout:
            return Readiness(
                [Check("database", False, f"no answer within {self.wait_s:g} s (busy or hung)")]
            )
