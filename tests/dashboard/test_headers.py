"""Security headers on every answer of the one server: no framing by other sites, no content
sniffing, no address sent to other sites; a header a route set itself is kept."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from core.config import Settings
from dashboard.headers import HEADERS, SecurityHeaders
from dashboard.routes import media
from db.engine import get_database, init_db
from tests.support.browser import serve_dashboard

EXPECTED = {name.decode(): value.decode() for name, value in HEADERS}


def test_each_response_gets_the_headers_unless_it_set_its_own() -> None:
    def plain(_request):
        return PlainTextResponse("hi")

    def framed(_request):
        return PlainTextResponse("embed me", headers={"X-Frame-Options": "ALLOWALL"})

    app = Starlette(
        routes=[Route("/plain", plain), Route("/framed", framed)],
        middleware=[Middleware(SecurityHeaders)],
    )
    client = TestClient(app)
    plain_headers = client.get("/plain").headers
    assert {name: plain_headers[name] for name in EXPECTED} == EXPECTED
    assert client.get("/missing").headers["x-frame-options"] == "SAMEORIGIN"  # a 404 too
    framed_headers = client.get("/framed").headers
    assert framed_headers.get_list("x-frame-options") == ["ALLOWALL"]
    assert framed_headers["x-content-type-options"] == "nosniff"


@pytest.mark.slow
def test_the_real_server_sends_them_on_pages_routes_and_the_api(settings: Settings) -> None:
    init_db(get_database(settings))
    with serve_dashboard(settings.data_dir) as server:
        for path, status in [
            ("/", 200),  # Streamlit's page
            ("/_stcore/health", 200),
            (media.video_url(1), 401),  # our media route, signed out
            ("/api/v1/openapi.json", 200),
            ("/api/v1/videos", 401),  # the API without a token
        ]:
            response = httpx.get(server.url + path, timeout=30)
            assert response.status_code == status, path
            assert {name: response.headers.get(name) for name in EXPECTED} == EXPECTED, path
