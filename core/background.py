"""Daemon threads that live as long as the dashboard server (the webhook sender, the retraining
policy's watcher, the review queue's ranker): started in its lifespan, stopped when it shuts
down. Each records when its last round ended and how, which the server's health answers and
metrics report (:class:`Background`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from core.config import Settings
from core.errors import TaggerError
from db.engine import Database
from db.tables import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThreadState:
    """What a server thread last did: ``last_error`` is the last round's failure in words (None
    when it succeeded), ``last_round_at`` None until a round has ended."""

    name: str
    alive: bool
    last_round_at: datetime | None
    last_error: str | None


class ServerThread:
    """A daemon thread running :meth:`run` until :meth:`stop`. ``run`` waits on ``stopping``
    between its rounds, so a stop ends it within one wait, and calls :meth:`round_ended` after
    each round."""

    name = "server-thread"

    def __init__(self, db: Database, *, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._last_round: tuple[datetime, str | None] | None = None

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self._thread.join(timeout)

    def run(self) -> None:
        raise NotImplementedError

    def round_ended(self, error: str | None = None) -> None:
        self._last_round = (utcnow(), error)

    def state(self) -> ThreadState:
        ended, error = self._last_round or (None, None)
        return ThreadState(self.name, self._thread.is_alive(), ended, error)


class PeriodicCheck(ServerThread):
    """Runs :meth:`check` every :meth:`interval_s` seconds, the first one :meth:`first_wait_s`
    after the start. A check that fails does not end the thread: an expected error (the database
    busy, a worker that did not start) is logged as a warning and retried at the next check, a
    bug with its traceback."""

    def interval_s(self) -> float:
        raise NotImplementedError

    def first_wait_s(self) -> float:
        """One interval, unless a check that rare must not wait for a server that outlives it."""
        return self.interval_s()

    def check(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        wait = self.first_wait_s()
        while not self.stopping.wait(wait):
            wait = self.interval_s()
            try:
                self.check()
            except TaggerError as e:
                logger.warning("%s: %s", self.name, e)
                self.round_ended(str(e))
            except Exception as e:
                logger.exception("%s: the check failed", self.name)
                self.round_ended(f"{type(e).__name__}: {e}")
            else:
                self.round_ended()


class Background:
    """The server's threads, for its lifespan (:meth:`start`, :meth:`stop`) and for its health
    answers (:meth:`states`): one object made before the server starts, so the HTTP API built
    at import reads the threads the lifespan starts later."""

    def __init__(self) -> None:
        self._threads: list[ServerThread] = []

    def start(self, threads: Sequence[ServerThread]) -> None:
        for thread in threads:
            self._threads.append(thread.start())

    def stop(self) -> None:
        for thread in self._threads:
            thread.stop()
        self._threads.clear()

    def states(self) -> list[ThreadState]:
        return [thread.state() for thread in self._threads]
