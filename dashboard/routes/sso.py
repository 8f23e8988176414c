"""Single sign-on's two stops in the browser's round trip to the provider (core/sso.py).

GET /auth/sso/start sends the browser to the provider and keeps the attempt (state, nonce, PKCE
verifier) in an HttpOnly cookie scoped to /auth/sso; GET /auth/sso/callback is where the
provider sends it back: the attempt is checked and completed, and the browser gets the same
session cookie as a password sign-in. A failure goes back to the sign-in page with a reason code
(never the provider's words in the URL); the server's log, and the audit log for refusals,
keep the details.
"""

from __future__ import annotations

import logging
import threading

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from core import sso
from core.auth import SessionToken
from core.config import Settings, get_settings
from dashboard.routes import session
from db.engine import get_database

logger = logging.getLogger(__name__)

PENDING_COOKIE = "tagger_sso"
PREFIX = "/auth/sso"
START_PATH = f"{PREFIX}/start"
CALLBACK_PATH = f"{PREFIX}/callback"

_clients: dict[tuple, sso.OidcClient] = {}  # one per provider setting: keeps its metadata and keys
_clients_lock = threading.Lock()


def client(settings: Settings) -> sso.OidcClient:
    key = (settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = sso.OidcClient(settings)
        return _clients[key]


def redirect_uri(request: Request, settings: Settings) -> str:
    """Where the provider sends the browser back (registered there as the redirect URI)."""
    base = settings.public_url or str(request.base_url)
    return base.rstrip("/") + CALLBACK_PATH


def _failed(error: sso.SsoError) -> Response:
    logger.warning("single sign-on did not complete: %s", error)
    return RedirectResponse(
        f"{session.HOME}?{session.SIGNIN_RESULT_PARAM}={error.reason}", status_code=303
    )


async def start(request: Request) -> Response:
    settings = get_settings()
    if not sso.configured(settings):
        return PlainTextResponse("single sign-on is not configured here", status_code=404)
    try:  # the provider's metadata may be read now (network): off the event loop
        url, pending = await run_in_threadpool(
            client(settings).begin, redirect_uri(request, settings)
        )
    except sso.SsoError as e:
        return _failed(e)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        PENDING_COOKIE,
        pending.to_cookie(),
        max_age=sso.PENDING_TTL_S,
        path=PREFIX,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back
        secure=session.over_https(request),
    )
    return response


async def callback(request: Request) -> Response:
    settings = get_settings()
    if not sso.configured(settings):
        return PlainTextResponse("single sign-on is not configured here", status_code=404)
    try:
        pending = sso.PendingSignIn.from_cookie(request.cookies.get(PENDING_COOKIE))
        back_to = redirect_uri(request, settings)
        params = dict(request.query_params)
        signed = await run_in_threadpool(_complete, settings, params, pending, back_to)
    except sso.SsoError as e:
        response = _failed(e)
    else:
        response = session.signed_in(request, signed)
    response.delete_cookie(PENDING_COOKIE, path=PREFIX, httponly=True, samesite="lax")
    return response


def _complete(
    settings: Settings, params: dict[str, str], pending: sso.PendingSignIn, back_to: str
) -> SessionToken:
    identity = client(settings).identity(params, pending, back_to)
    return sso.sign_in(get_database(settings), identity, settings=settings)


routes = [
    Route(START_PATH, start, methods=["GET"]),
    Route(CALLBACK_PATH, callback, methods=["GET"]),
]
