"""The server's traffic middleware: each answer counted under its route template (the server's
own routes, a mounted API with a prefixed router, a mount's unmatched paths, no route at all),
a failing handler as a 500, body bytes, and WebSocket connections while open."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient

from core.metrics import HttpTraffic
from dashboard.traffic import RouteTemplates, TrafficMetrics


def _app(traffic: HttpTraffic) -> Starlette:
    api = FastAPI()
    v1 = APIRouter(prefix="/v1")

    @v1.get("/videos/{video_id}")
    def video(video_id: int) -> dict:
        return {"id": video_id}

    @v1.get("/broken")
    def broken() -> dict:
        raise RuntimeError("a bug")

    api.include_router(v1)

    async def media(request):
        return PlainTextResponse("x" * 1000)

    async def stream(websocket):
        await websocket.accept()
        async for _ in websocket.iter_text():  # until the browser's tab closes
            pass

    return Starlette(
        routes=[
            Route("/media/{name}", media),
            WebSocketRoute("/stream", stream),
            Mount("/api", api),
        ],
        middleware=[
            Middleware(
                TrafficMetrics,
                traffic=traffic,
                mounted=RouteTemplates("/api" + path for path in api.openapi()["paths"]),
            )
        ],
    )


def _count(registry: CollectorRegistry, handler: str, status: str) -> float | None:
    return registry.get_sample_value(
        "tagger_http_requests_total", {"handler": handler, "method": "GET", "status": status}
    )


def test_answers_are_counted_by_route_template():
    registry = CollectorRegistry()
    traffic = HttpTraffic(registry)
    client = TestClient(_app(traffic), raise_server_exceptions=False)
    for path in (
        "/api/v1/videos/1",
        "/api/v1/videos/2",
        "/media/a",
        "/media/b",
        "/api/v1/nope",
        "/nowhere/1",
        "/nowhere/2",
        "/api/v1/broken",
    ):
        client.get(path)
    assert _count(registry, "/api/v1/videos/{video_id}", "200") == 2
    assert _count(registry, "/media/{name}", "200") == 2
    assert _count(registry, "/api/*", "404") == 1  # only the mount matched
    assert _count(registry, "unmatched", "404") == 2  # one series for every unknown path
    assert _count(registry, "/api/v1/broken", "500") == 1  # the handler raised
    assert (
        registry.get_sample_value("tagger_http_response_bytes_total", {"handler": "/media/{name}"})
        == 2000
    )
    assert (
        registry.get_sample_value(
            "tagger_http_request_duration_seconds_count", {"handler": "/api/v1/videos/{video_id}"}
        )
        == 2
    )
    names = {s.labels.get("handler") for m in registry.collect() for s in m.samples}
    assert not [name for name in names if name and ("/1" in name or "nowhere" in name)]


def test_open_websockets_are_counted_while_open():
    registry = CollectorRegistry()
    client = TestClient(_app(HttpTraffic(registry)))
    with client.websocket_connect("/stream") as first, client.websocket_connect("/stream"):
        first.send_text("hello")
        assert registry.get_sample_value("tagger_dashboard_connections") == 2
    assert registry.get_sample_value("tagger_dashboard_connections") == 0
