"""What the server's health and metrics cost: a Prometheus scrape of ``/api/v1/metrics`` (its
stored-work gauges read from the database, and kept while nothing was written), a readiness
check, and the traffic middleware's time per request, side by side with the same app without
it (ASGI calls in this process: no network, so the difference is the middleware's own).

    .venv/bin/python -m scripts.bench.monitoring --videos 1000000
    .venv/bin/python -m scripts.bench.monitoring --videos 1000000 --url postgresql+psycopg://...

``--url`` names an empty PostgreSQL database to fill (``scripts.bench.postgres_queue.fill``);
without it, a DuckDB file in a temporary folder (``scripts.bench.dashboard_pages.populate``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message

from core import health
from core.background import Background
from core.config import Settings
from core.metrics import HttpTraffic, Metrics
from dashboard.traffic import RouteTemplates, TrafficMetrics
from db.engine import Database, get_database, init_db
from scripts.bench.common import median_times

ROUNDS = 7
CALLS = 20_000
PATHS = {"a route of the server's own": "/media/clip", "an API route": "/api/v1/videos/3/history"}


def _database(videos: int, url: str | None) -> tuple[Database, Settings]:
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="bench-monitoring-")))
    if url is None:
        from scripts.bench.dashboard_pages import populate

        populate(settings, videos)
        return get_database(settings), settings
    from scripts.bench.postgres_queue import fill, vacuum

    settings = settings.model_copy(update={"database_url": url})
    db = Database(url)
    init_db(db)
    fill(db, videos)
    vacuum(url)
    return db, settings


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _app(measured: bool) -> ASGIApp:
    """One route of the server's own and one below a mount; with or without the middleware."""
    api_templates = RouteTemplates(
        ["/api/v1/videos/{video_id}", "/api/v1/videos/{video_id}/history"]
    )
    middleware = [
        Middleware(TrafficMetrics, traffic=HttpTraffic(CollectorRegistry()), mounted=api_templates)
    ]
    return Starlette(
        routes=[
            Route("/media/{name}", _ok),
            Mount("/api", Starlette(routes=[Route("/v1/videos/{video_id}/history", _ok)])),
        ],
        middleware=middleware if measured else [],
    )


def _seconds_a_request(app: ASGIApp, path: str, calls: int) -> float:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "server": ("bench", 80),
        "client": ("bench", 1),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    async def run() -> float:
        started = time.perf_counter()
        for _ in range(calls):
            await app(dict(scope), receive, send)
        return (time.perf_counter() - started) / calls

    return asyncio.run(run())


def middleware_us(calls: int) -> dict[str, tuple[float, float]]:
    """Per path: median microseconds a request without and with the middleware, alternating."""
    apps = {False: _app(False), True: _app(True)}
    found = {}
    for name, path in PATHS.items():
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(ROUNDS):
            for measured, app in apps.items():
                times[measured].append(_seconds_a_request(app, path, calls))
        found[name] = (statistics.median(times[False]) * 1e6, statistics.median(times[True]) * 1e6)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--url", help="an empty PostgreSQL database to fill (else DuckDB)")
    parser.add_argument("--calls", type=int, default=CALLS, help="requests per timing round")
    args = parser.parse_args(argv)
    db, settings = _database(args.videos, args.url)
    read = Metrics.of(db, Background(), fresh_s=0)
    kept = Metrics.of(db, Background())
    print(f"{db.backend}, {args.videos:,} videos; median of {ROUNDS} in turn, wall / CPU here")
    timed = median_times(
        {
            "scrape, stored work read": read.exposition,
            "scrape, stored work kept (DuckDB, nothing written)": kept.exposition,
            "readiness check": lambda: health.readiness(db, settings),
        },
        ROUNDS,
    )
    for name, (wall, cpu) in timed.items():
        print(f"  {name}: {wall * 1000:.1f} / {cpu * 1000:.1f} ms")
    print(f"  a scrape's size: {len(read.exposition()):,} bytes")
    print(f"traffic middleware, {args.calls:,} ASGI calls a round, {ROUNDS} rounds alternating:")
    for name, (without, with_it) in middleware_us(args.calls).items():
        print(f"  {name}: {without:.1f} -> {with_it:.1f} us a request (+{with_it - without:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
