"""Every request the one server answers, counted into its metrics
(:class:`core.metrics.HttpTraffic`): the route template that handled it, its status, how long
the answer took to send and how many body bytes it had; and the open WebSocket connections
(dashboard tabs)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.metrics import HttpTraffic

UNMATCHED = "unmatched"
SERVER_ERROR = 500


class RouteTemplates:
    """The full templates of a mounted app's routes (``/api/v1/videos/{video_id}``), matched
    against a request's path. Needed because a router included with a prefix leaves the
    route's own, shorter path in the request's scope."""

    def __init__(self, templates: Iterable[str]) -> None:
        self._patterns: list[tuple[re.Pattern[str], str]] = [
            (compile_path(template)[0], template) for template in templates
        ]

    def match(self, path: str) -> str | None:
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return None


def handler_of(scope: Scope, mounted: RouteTemplates) -> str:
    """The template of the route that answered, read after the routers put it in the scope:
    the server's own routes by their path, a mounted app's by ``mounted`` (else the mount's
    path joined to the route's). A path no route matched is :data:`UNMATCHED`, and one only a
    mount matched its prefix + ``/*``: never the raw path, so a scan of random URLs adds one
    series, not one per URL."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    root = scope.get("root_path", "")
    mount = isinstance(route, Mount)
    if not mount and root == scope.get("app_root_path", ""):  # the server's own router's
        return route.path
    template = mounted.match(scope["path"])
    if template is not None:
        return template
    return f"{root}/*" if mount else f"{root}{route.path}"


class TrafficMetrics:
    """ASGI middleware that records each HTTP answer once its body has been sent (or its
    handler failed: then as a 500, which the server's error handler sends), and counts
    WebSocket connections while they are open."""

    def __init__(self, app: ASGIApp, *, traffic: HttpTraffic, mounted: RouteTemplates) -> None:
        self.app = app
        self.traffic = traffic
        self.mounted = mounted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            self.traffic.connections.inc()
            try:
                await self.app(scope, receive, send)
            finally:
                self.traffic.connections.dec()
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = SERVER_ERROR
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.traffic.observe(
                handler=handler_of(scope, self.mounted),
                method=scope["method"],
                status=status,
                seconds=time.perf_counter() - started,
                sent=sent,
            )
