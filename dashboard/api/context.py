"""What every route needs, built once by ``create_api``: the database, the settings, how
background jobs start (replaceable in tests), the per-token rate limiter, and for the health and
metrics routes the server's background threads, readiness probe and metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from core.background import Background
from core.config import Settings
from core.health import ReadinessProbe
from core.metrics import Metrics
from core.tokens import RateLimiter
from db.engine import Database
from db.queries import Actor

JobStarter = Callable[
    ..., int
]  # like core.lifecycle.jobs.start_job(db, *, kind, params, user, settings)


@dataclass(frozen=True)
class ApiContext:
    db: Database
    settings: Settings
    start_job: JobStarter
    limiter: RateLimiter
    background: Background
    readiness: ReadinessProbe
    metrics: Metrics

    def start(self, kind: str, params: dict[str, Any], user: Actor) -> int:
        return self.start_job(self.db, kind=kind, params=params, user=user, settings=self.settings)


def context(request: Request) -> ApiContext:
    """The route's :class:`ApiContext` (a FastAPI dependency)."""
    return request.app.state.context
