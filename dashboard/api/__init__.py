"""The HTTP API for the platforms that upload videos (FastAPI, mounted by ``dashboard/server.py``
at ``/api``): routes under ``/v1`` (``videos``, ``catalog``), bearer-token access (``access``),
bodies (``schemas``), expected errors as HTTP answers (``errors``).

Public: :func:`create_api` builds the app; :func:`webhook_lifespan` runs the webhook sender for
as long as the server that hosts the API runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from core.config import Settings, get_settings
from core.lifecycle import jobs
from core.tokens import RateLimiter
from core.webhooks import WebhookSender
from dashboard.api import catalog, errors, limits, videos
from dashboard.api.context import ApiContext, JobStarter
from dashboard.api.limits import BodyLimit
from db.engine import Database, get_database

__all__ = ["create_api", "webhook_lifespan"]

API_VERSION = "v1"


def create_api(
    *,
    settings: Settings | None = None,
    db: Database | None = None,
    start_job: JobStarter = jobs.start_job,
) -> FastAPI:
    """The API app: OpenAPI at ``/v1/openapi.json`` and docs at ``/docs`` (below the mount).

    ``start_job`` starts background jobs (upload processing, training); tests replace it.
    """
    settings = settings or get_settings()
    app = FastAPI(
        title="Video tagger API",
        version="1.0",
        summary="Upload videos, read their IAB tags, write reviewed labels.",
        openapi_url=f"/{API_VERSION}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.context = ApiContext(
        db=db or get_database(settings),
        settings=settings,
        start_job=start_job,
        limiter=RateLimiter(settings.api_rate_limit_per_minute),
    )
    errors.install(app)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_upload_mb * (1 << 20) + limits.FORM_ROOM_BYTES
    )
    v1 = APIRouter(prefix=f"/{API_VERSION}")
    v1.include_router(videos.router)
    v1.include_router(catalog.router)
    app.include_router(v1)
    return app


@asynccontextmanager
async def webhook_lifespan(_app: Any) -> AsyncIterator[None]:
    """Lifespan of the hosting server: sends queued webhook deliveries in a background thread."""
    settings = get_settings()
    sender = WebhookSender(get_database(settings), settings=settings).start()
    try:
        yield
    finally:
        sender.stop()
