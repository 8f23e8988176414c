"""Single sign-on's two stops in the browser's round trip to the provider (core/sso.py), and
the provider's back-channel logout.

GET /auth/sso/start sends the browser to the provider and keeps the attempt (state, nonce, PKCE
verifier) in an HttpOnly cookie scoped to /auth/sso; GET /auth/sso/callback is where the
provider sends it back: the attempt is checked and completed, and the browser gets the same
session cookie as a password sign-in. A failure goes back to the sign-in page with a reason code
(never the provider's words in the URL); the server's log, and the audit log for refusals,
keep the details.

POST /auth/sso/logout is where the provider's server posts a logout token when someone's
session there ends: the dashboard sessions it names end too (open pages sign out at their next
action, media stops within seconds). GET /auth/sso/frontchannel-logout does the same for a
provider that signs out through the person's browser instead (Entra ID, Keycloak: a hidden
frame with the provider session's ``sid``).
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
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
LOGOUT_PATH = f"{PREFIX}/logout"  # the back-channel logout URI registered at the provider
FRONT_CHANNEL_LOGOUT_PATH = f"{PREFIX}/frontchannel-logout"  # the front-channel one
_NEVER_CACHED = {"Cache-Control": "no-cache, no-store", "Pragma": "no-cache"}
MAX_LOGOUT_FORM_FIELDS = 2


def redirect_uri(request: Request, settings: Settings) -> str:
    """Where the provider sends the browser back (registered there as the redirect URI)."""
    return session.public_base(request) + CALLBACK_PATH


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
            sso.client(settings).begin, redirect_uri(request, settings)
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
    identity = sso.client(settings).identity(params, pending, back_to)
    return sso.sign_in(get_database(settings), identity, settings=settings)


async def logout(request: Request) -> Response:
    """The provider's back-channel logout (form field ``logout_token``): 200 once the sessions
    it names have ended (none known here is fine), 400 with the reason for a token that is not
    valid here. Never cached (Back-Channel Logout 1.0, 2.8)."""
    settings = get_settings()
    if not sso.configured(settings):
        return PlainTextResponse("single sign-on is not configured here", status_code=404)
    async with request.form(max_files=0, max_fields=MAX_LOGOUT_FORM_FIELDS) as form:
        token = str(form.get("logout_token", ""))
    try:
        ended = await run_in_threadpool(_end_sessions, settings, token)
    except sso.SsoError as e:
        logger.warning("a back-channel logout was refused: %s", e)
        return JSONResponse(
            {"error": "invalid_request", "error_description": str(e)},
            status_code=400,
            headers={"Cache-Control": "no-store"},
        )
    logger.info("the provider's back-channel logout ended %d dashboard session(s)", ended)
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


async def front_channel_logout(request: Request) -> Response:
    """The provider's front-channel logout, loaded in a hidden frame of the person's browser:
    the dashboard sessions opened in the provider session ``sid`` (of issuer ``iss``, where
    sent) end. The frame is cross-site, so the browser sends no dashboard cookie (SameSite=Lax):
    the provider's session id is what names the sessions. 200 (none known here is fine), 400
    with the reason for a request without ``sid`` or from another issuer. Never cached
    (Front-Channel Logout 1.0, 2)."""
    settings = get_settings()
    if not sso.configured(settings):
        return PlainTextResponse("single sign-on is not configured here", status_code=404)
    issuer, session_id = request.query_params.get("iss"), request.query_params.get("sid")
    try:
        notice = await run_in_threadpool(
            sso.client(settings).front_channel_logout, issuer, session_id
        )
    except sso.SsoError as e:
        logger.warning("a front-channel logout was refused: %s", e)
        return PlainTextResponse(str(e), status_code=400, headers=_NEVER_CACHED)
    ended = await run_in_threadpool(sso.end_provider_sessions, get_database(settings), notice)
    logger.info("the provider's front-channel logout ended %d dashboard session(s)", ended)
    return HTMLResponse("<!doctype html><title>Signed out</title>", headers=_NEVER_CACHED)


def _end_sessions(settings: Settings, token: str) -> int:
    if not token:
        raise sso.SsoError("the request has no logout_token")
    notice = sso.client(settings).logout(token)
    return sso.end_provider_sessions(get_database(settings), notice)


routes = [
    Route(START_PATH, start, methods=["GET"]),
    Route(CALLBACK_PATH, callback, methods=["GET"]),
    Route(LOGOUT_PATH, logout, methods=["POST"]),
    Route(FRONT_CHANNEL_LOGOUT_PATH, front_channel_logout, methods=["GET"]),
]
