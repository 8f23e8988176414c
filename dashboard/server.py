"""One server, one port: the Streamlit dashboard (``dashboard/app.py``), our own HTTP routes (media
streaming, sign-in, binary mode's questions and answers) and the HTTP API mounted at ``/api``.

    streamlit run dashboard/server.py      (what `tagger serve` runs)

Streamlit finds the module-level ``app`` and serves it in ASGI mode. Routes are checked before
Streamlit's own; its reserved prefixes (/_stcore, /media, /component, /static) are not ours. Every
HTTP answer gets the security headers of ``dashboard/headers.py`` and is counted into the
server's metrics (``dashboard/traffic.py``). Three background threads run for the server's
lifetime: the webhook sender, the retraining policy's watcher (unless ``retrain_poll_s`` is 0)
and the review queue's ranker (unless ``rerank_after_s`` is 0); the API's health answer reports
them. The product's loggers write to stderr at ``TAGGER_LOG_LEVEL``, in Streamlit's line format
or, with ``TAGGER_LOG_FORMAT=json``, as JSON objects, and Streamlit's too (``server_logs.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import streamlit as st
from starlette.middleware import Middleware
from starlette.routing import Mount

from core.background import Background, ServerThread
from core.config import get_settings
from core.lifecycle.queue_ranking import RankWatcher
from core.lifecycle.retrain_policy import RetrainWatcher
from core.metrics import Metrics
from core.overdue import OverdueWatcher
from core.retention import RetentionWatcher
from core.webhooks import WebhookSender
from dashboard.api import create_api
from dashboard.headers import SecurityHeaders
from dashboard.routes import binary, media, session, sso
from dashboard.server_logs import set_up_server_logs
from dashboard.traffic import RouteTemplates, TrafficMetrics
from db.engine import get_database

APP_SCRIPT = Path(__file__).resolve().parent / "app.py"

set_up_server_logs(get_settings())

API_PATH = "/api"

background = Background()
metrics = Metrics.of(get_database(get_settings()), background)
api = create_api(background=background, metrics=metrics)
routes = [
    *session.routes,
    *sso.routes,
    *media.routes,
    *binary.routes,
    Mount(API_PATH, api),
]


@asynccontextmanager
async def background_work(_app: Any) -> AsyncIterator[None]:
    """Lifespan of the server: sends queued webhook deliveries, reports raised videos not
    reviewed within their target, starts the retraining policy's retrains when due, ranks the
    review pool again when videos have waited unranked, and deletes the media of videos
    reviewed longer ago than the retention period, each in a background thread."""
    settings = get_settings()
    db = get_database(settings)
    threads: list[ServerThread] = [
        WebhookSender(db, settings=settings),
        OverdueWatcher(db, settings=settings),
    ]
    if settings.retrain_poll_s > 0:
        threads.append(RetrainWatcher(db, settings=settings))
    if settings.rerank_after_s > 0:
        threads.append(RankWatcher(db, settings=settings))
    if settings.media_retention_days > 0:
        threads.append(RetentionWatcher(db, settings=settings))
    background.start(threads)
    try:
        yield
    finally:
        background.stop()


app = st.App(
    APP_SCRIPT,
    routes=routes,
    middleware=[
        Middleware(
            TrafficMetrics,
            traffic=metrics.traffic,
            mounted=RouteTemplates(
                API_PATH + path for path in [*api.openapi()["paths"], api.docs_url, api.openapi_url]
            ),
        ),
        Middleware(SecurityHeaders),
    ],
    lifespan=background_work,
)
