"""Daemon threads that live as long as the dashboard server (the webhook sender, the retraining
policy's watcher): started in its lifespan, stopped when it shuts down."""

from __future__ import annotations

import threading
from typing import Self

from core.config import Settings
from db.engine import Database


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
