"""Daemon threads that live as long as the dashboard server (the webhook sender, the retraining
policy's watcher, the review queue's ranker): started in its lifespan, stopped when it shuts
down."""

from __future__ import annotations

import logging
import threading
from typing import Self

from core.config import Settings
from core.errors import TaggerError
from db.engine import Database

logger = logging.getLogger(__name__)


class ServerThread:
    """A daemon thread running :meth:`run` until :meth:`stop`. ``run`` waits on ``stopping``
    between its rounds, so a stop ends it within one wait."""

    name = "server-thread"

    def __init__(self, db: Database, *, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self._thread.join(timeout)

    def run(self) -> None:
        raise NotImplementedError


class PeriodicCheck(ServerThread):
    """Runs :meth:`check` every :meth:`interval_s` seconds, the first one interval after the
    start. A check that fails does not end the thread: an expected error (the database busy, a
    worker that did not start) is logged as a warning and retried at the next check, a bug with
    its traceback."""

    def interval_s(self) -> float:
        raise NotImplementedError

    def check(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s()):
            try:
                self.check()
            except TaggerError as e:
                logger.warning("%s: %s", self.name, e)
            except Exception:
                logger.exception("%s: the check failed", self.name)
