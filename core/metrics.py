"""The server's metrics in Prometheus' text format (``GET /api/v1/metrics``), for the platform's
monitoring: what the stored work looks like (videos per queue state, the age of the oldest
video waiting for review, jobs, webhook deliveries, the active model), whether the background
threads keep going, the room left in the data folder, the HTTP traffic every route served
(counts, durations, bytes), open dashboard connections, and the process's own CPU and memory.

Stored work is read when scraped; on DuckDB the last reading is kept while nothing was written
to the database (:mod:`db.unwritten`), up to ``fresh_s`` (claims expire by the clock), so a
scrape every 15 s does not keep an idle database open. A database that cannot be read makes
``tagger_database_up`` 0 and leaves its gauges out; the rest is still answered.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import DBAPIError

from core.background import Background
from core.config import Settings, get_settings
from core.errors import TaggerError
from db.engine import Database, latest_schema_version
from db.queries import operations
from db.tables import utcnow
from db.unwritten import UnwrittenAnswers

__all__ = ["CONTENT_TYPE_LATEST", "HttpTraffic", "Metrics"]

logger = logging.getLogger(__name__)

STORED_WORK_FRESH_S = 60.0
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpTraffic:
    """Counts what the server's HTTP routes answered, recorded by the server's middleware
    (``dashboard/traffic.py``) and labelled by route template, never by raw path: a scan of
    random URLs adds one ``unmatched`` series, not one per URL."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "tagger_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["handler", "method", "status"],
            registry=registry,
        )
        self.seconds = Histogram(
            "tagger_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer's body, by route template.",
            ["handler"],
            registry=registry,
        )
        self.sent_bytes = Counter(
            "tagger_http_response_bytes",
            "Bytes of answer bodies sent (media streaming included), by route template.",
            ["handler"],
            registry=registry,
        )
        self.connections = Gauge(
            "tagger_dashboard_connections",
            "Open WebSocket connections: one per dashboard browser tab.",
            registry=registry,
        )

    def observe(self, *, handler: str, method: str, status: int, seconds: float, sent: int) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(handler, method, str(status)).inc()
        self.seconds.labels(handler).observe(seconds)
        self.sent_bytes.labels(handler).inc(sent)


class _StoredWork(Collector):
    """Gauges of :func:`db.queries.operations.overview`, read when scraped."""

    def __init__(self, db: Database, *, fresh_s: float) -> None:
        self.db = db
        self._answers = UnwrittenAnswers(max_age_s=fresh_s)

    def _overview(self) -> operations.Overview:
        return self._answers.ask(self.db, "overview", self._read)

    def _read(self) -> operations.Overview:
        with self.db.session() as session:
            return operations.overview(session, now=utcnow())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("tagger_database_up", "1 when the database answered this scrape.")
        try:
            overview = self._overview()
        except (TaggerError, DBAPIError) as e:  # busy, or PostgreSQL down: the rest goes on
            logger.warning("metrics: the database did not answer: %s", e)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _overview_families(overview)


def _seconds_since(moment: datetime) -> float:
    return max(0.0, (utcnow() - moment).total_seconds())


def _overview_families(overview: operations.Overview) -> Iterator[GaugeMetricFamily]:
    videos = GaugeMetricFamily(
        "tagger_videos", "Videos per queue state (in_review: claimed now).", labels=["state"]
    )
    for state, n in overview.videos.items():
        videos.add_metric([state], n)
    yield videos
    yield GaugeMetricFamily(
        "tagger_flagged_videos", "Videos flagged for a lead.", value=overview.flagged_videos
    )
    oldest = GaugeMetricFamily(
        "tagger_oldest_unreviewed_video_age_seconds",
        "How long ago the oldest predicted, not yet reviewed video arrived (0: none waits).",
    )
    waited = 0.0
    if overview.oldest_waiting_at is not None:
        waited = _seconds_since(overview.oldest_waiting_at)
    oldest.add_metric([], waited)
    yield oldest
    prioritized = GaugeMetricFamily(
        "tagger_prioritized_videos",
        "High and urgent videos not reviewed yet, per priority.",
        labels=["priority"],
    )
    longest = GaugeMetricFamily(
        "tagger_oldest_prioritized_wait_seconds",
        "How long the high or urgent video raised longest ago has waited (0: none waits).",
        labels=["priority"],
    )
    for level, backlog in overview.prioritized.items():
        name = level.label
        prioritized.add_metric([name], backlog.videos)
        since = backlog.oldest_since
        longest.add_metric([name], 0.0 if since is None else _seconds_since(since))
    target = GaugeMetricFamily(
        "tagger_review_target_seconds",
        "The team's promise: a high or urgent video reviewed within this long of being raised"
        " (an admin's setting: Queue page, tagger review-targets).",
        labels=["priority"],
    )
    for level, seconds in overview.review_targets.items():
        target.add_metric([level.label], seconds)
    yield prioritized
    yield longest
    yield target
    jobs = GaugeMetricFamily(
        "tagger_jobs",
        "Background jobs per kind and status, as recorded.",
        labels=["kind", "status"],
    )
    for (kind, status), n in sorted(overview.jobs.items()):
        jobs.add_metric([kind, status], n)
    yield jobs
    deliveries = GaugeMetricFamily(
        "tagger_webhook_deliveries", "Webhook deliveries per status.", labels=["status"]
    )
    for status, n in overview.webhook_deliveries.items():
        deliveries.add_metric([status], n)
    yield deliveries
    model = overview.active_model
    info = GaugeMetricFamily(
        "tagger_active_model_info",
        "The model version predictions come from (1; absent while none is active).",
        labels=["version", "encoder"],
    )
    if model is not None:
        info.add_metric([str(model.version_id), model.encoder_id], 1)
        yield GaugeMetricFamily(
            "tagger_active_model_trained_timestamp_seconds",
            "When the active model version was trained (Unix time).",
            value=model.trained_at.timestamp(),
        )
        if model.micro_auprc is not None:
            yield GaugeMetricFamily(
                "tagger_active_model_micro_auprc",
                "The active model's micro AU(PRC) on its held-out videos.",
                value=model.micro_auprc,
            )
    yield info


class _Threads(Collector):
    """The server's background threads (:class:`core.background.Background`)."""

    def __init__(self, background: Background) -> None:
        self.background = background

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "tagger_background_thread_up", "1 while the thread runs.", labels=["thread"]
        )
        failed = GaugeMetricFamily(
            "tagger_background_last_round_failed",
            "1 when the thread's last round ended in an error (the server log says which).",
            labels=["thread"],
        )
        ended = GaugeMetricFamily(
            "tagger_background_last_round_timestamp_seconds",
            "When the thread's last round ended (Unix time; absent before the first).",
            labels=["thread"],
        )
        for state in self.background.states():
            up.add_metric([state.name], int(state.alive))
            failed.add_metric([state.name], int(state.last_error is not None))
            if state.last_round_at is not None:
                ended.add_metric([state.name], state.last_round_at.timestamp())
        yield from (up, failed, ended)


class _DataFolder(Collector):
    """The data folder's file system (uploads, media, thumbnails, models), read when scraped: an
    alert sees it running short before readiness takes the server out of rotation (below
    ``min_free_disk_mb``). Absent while the folder does not exist (readiness says so)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "tagger_data_min_free_bytes",
            "The room kept for uploads (TAGGER_MIN_FREE_DISK_MB): with less free, GET"
            " /api/v1/ready answers 503.",
            value=self.settings.min_free_disk_mb * 2**20,
        )
        if not self.settings.data_dir.is_dir():
            return
        usage = shutil.disk_usage(self.settings.data_dir)
        yield GaugeMetricFamily(
            "tagger_data_free_bytes",
            "Free space on the data folder's file system.",
            value=usage.free,
        )
        yield GaugeMetricFamily(
            "tagger_data_size_bytes", "Size of the data folder's file system.", value=usage.total
        )


@dataclass
class Metrics:
    """One registry per server: its HTTP traffic, stored work, threads and process."""

    registry: CollectorRegistry
    traffic: HttpTraffic

    @classmethod
    def of(
        cls,
        db: Database,
        background: Background,
        *,
        fresh_s: float = STORED_WORK_FRESH_S,
        settings: Settings | None = None,
    ) -> Metrics:
        """``settings`` (the configured ones by default) give the data folder."""
        settings = settings or get_settings()
        disable_created_metrics()  # a `_created` series beside every counter: noise to most
        registry = CollectorRegistry()
        traffic = HttpTraffic(registry)
        Gauge(
            "tagger_schema_info", "This server's schema version.", ["schema"], registry=registry
        ).labels(str(latest_schema_version())).set(1)
        registry.register(_StoredWork(db, fresh_s=fresh_s))
        registry.register(_Threads(background))
        registry.register(_DataFolder(settings))
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        return cls(registry, traffic)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
