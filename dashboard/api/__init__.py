"""The HTTP API for the platforms that upload videos (FastAPI, mounted by ``dashboard/server.py``
at ``/api``): routes under ``/v1`` (``videos``, ``queue``, ``catalog``, ``accounts``, the audit
feed in ``audit``, the server's health and metrics in ``operations``), SCIM user
provisioning under ``/scim/v2`` (``scim``), bearer-token access (``access``), bodies
(``schemas``), expected errors as HTTP answers (``errors``).

Public: :func:`create_api` builds the app.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from core import health
from core.background import Background
from core.config import Settings, get_settings
from core.lifecycle import jobs
from core.metrics import Metrics
from core.tokens import RateLimiter
from dashboard.api import (
    accounts,
    audit,
    catalog,
    errors,
    limits,
    operations,
    priority_rules,
    queue,
    scim,
    videos,
)
from dashboard.api.context import ApiContext, JobStarter
from dashboard.api.limits import BodyLimit
from db.engine import Database, get_database

__all__ = ["create_api"]

API_VERSION = "v1"
READY_WAIT_S = 5.0  # a busy database's answer waited for (give probes a longer timeout)


def create_api(
    *,
    settings: Settings | None = None,
    db: Database | None = None,
    start_job: JobStarter = jobs.start_job,
    background: Background | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    """The API app: OpenAPI at ``/v1/openapi.json`` and docs at ``/docs`` (below the mount).

    ``start_job`` starts background jobs (upload processing, training); tests replace it.
    ``background`` is the server's threads and ``metrics`` its registry (which its middleware
    feeds); without them, the health answers list no threads and the metrics no traffic.
    """
    settings = settings or get_settings()
    db = db or get_database(settings)
    background = background or Background()
    app = FastAPI(
        title="Video tagger API",
        version="1.0",
        summary="Upload videos, read their IAB tags, review them in the queue's order.",
        openapi_url=f"/{API_VERSION}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.context = ApiContext(
        db=db,
        settings=settings,
        start_job=start_job,
        limiter=RateLimiter(settings.api_rate_limit_per_minute),
        background=background,
        readiness=health.ReadinessProbe(
            lambda: health.readiness(db, settings), wait_s=READY_WAIT_S
        ),
        metrics=metrics or Metrics.of(db, background, settings=settings),
    )
    errors.install(app)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_upload_mb * (1 << 20) + limits.FORM_ROOM_BYTES
    )
    v1 = APIRouter(prefix=f"/{API_VERSION}")
    v1.include_router(videos.router)
    v1.include_router(queue.router)
    v1.include_router(catalog.router)
    v1.include_router(accounts.router)
    v1.include_router(audit.router)
    v1.include_router(priority_rules.router)
    v1.include_router(operations.router)
    app.include_router(v1)
    app.mount("/scim/v2", scim.create_scim(app.state.context))
    return app
