"""Response headers for every HTTP answer of the one server (Streamlit's pages, our routes, the
API): the dashboard may not be framed by another site, so no page elsewhere can lay invisible
buttons over "Save & next" or "Remove" (clickjacking); browsers take each response's content
type as given; and a video's address in the dashboard is not sent to the sites it links to.

Same-origin frames stay allowed: Streamlit shows custom components in iframes of its own
origin. A header a response already has (a route that set its own) is kept."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"content-security-policy", b"frame-ancestors 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """ASGI middleware that adds :data:`HEADERS` to each HTTP response that lacks them
    (websockets pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
