"""The session cookie: set by POST /auth/signin (or single sign-on, dashboard/routes/sso.py),
cleared by POST /auth/signout.

The sign-in page's HTML form posts straight to :func:`signin`, so the token only ever travels
in a ``Set-Cookie`` header (HttpOnly, SameSite=Lax, Secure over https) and is never in a URL or
in page HTML. The cookie lives as long as the server-side session (``auth.authenticate``), so
the browser drops it when the session expires; sign-out revokes the session in the database,
clears the cookie and makes this server's media routes forget the session at once. It first
waits (at most ``SIGNOUT_DRAIN_S``) for the review writes still running under the session
(:mod:`dashboard.deferred`), so the save made just before signing out is kept. A single sign-on
session then goes on to the provider's end-session endpoint where ``oidc_provider_signout`` asks
for it. Rate limiting and auditing stay in :mod:`core.auth`.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from core import auth, sso
from core.auth import CurrentUser, SessionToken
from core.config import Settings, get_settings
from dashboard import deferred
from dashboard.routes.recent import Recent
from db.engine import get_database
from db.tables import utcnow

logger = logging.getLogger(__name__)

COOKIE = "tagger_session"
SIGNIN_PATH = "/auth/signin"
SIGNOUT_PATH = "/auth/signout"
HOME = "/"
# what the sign-in page shows after a refused attempt (a reason code, never a secret)
SIGNIN_RESULT_PARAM = "signin"
INVALID = "invalid"
RATE_LIMITED = "limited"
PASSWORD_OFF = "password_off"  # TAGGER_PASSWORD_SIGNIN=false: the provider only
MAX_FORM_FIELDS = 4
SIGNOUT_DRAIN_S = 10.0  # the longest sign-out waits for the session's review writes
# sessions the media routes checked a moment ago, by token (see dashboard/routes/recent.py)
checked_sessions: Recent[str, CurrentUser] = Recent()


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")


def over_https(request: Request) -> bool:
    """Whether browsers reach the dashboard over https: this request's scheme, or the public
    address (``TAGGER_PUBLIC_URL``) behind a proxy that ends TLS and forwards plain http. Such
    cookies are ``Secure``: a browser never sends them over plain http."""
    public = get_settings().public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def public_base(request: Request) -> str:
    """The dashboard's address as browsers see it, without the trailing slash
    (``TAGGER_PUBLIC_URL`` behind a proxy, else this request's)."""
    return (get_settings().public_url or str(request.base_url)).rstrip("/")


def same_origin(request: Request) -> bool:
    """Browsers send Origin with every form POST: refuse one made from another site (login and
    logout CSRF). A request without Origin comes from a non-browser client and is allowed."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def signin(request: Request) -> Response:
    """Form fields ``username`` and ``password``; answers 303 to the dashboard, with the
    cookie on success, else with the reason code for the sign-in page."""
    if not same_origin(request):
        return PlainTextResponse("cross-site sign-in refused", status_code=403)
    if not sso.password_signin_allowed(get_settings()):
        return RedirectResponse(f"{HOME}?{SIGNIN_RESULT_PARAM}={PASSWORD_OFF}", status_code=303)
    async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
        username, password = str(form.get("username", "")), str(form.get("password", ""))
    try:  # argon2 and the database block: off the event loop
        session = await run_in_threadpool(
            auth.authenticate, get_database(get_settings()), username, password
        )
    except auth.RateLimitedError:
        return RedirectResponse(f"{HOME}?{SIGNIN_RESULT_PARAM}={RATE_LIMITED}", status_code=303)
    except auth.InvalidCredentialsError:
        return RedirectResponse(f"{HOME}?{SIGNIN_RESULT_PARAM}={INVALID}", status_code=303)
    return signed_in(request, session)


def signed_in(request: Request, session: SessionToken) -> Response:
    """303 to the dashboard with the session's cookie (a password or a single sign-on)."""
    response = RedirectResponse(HOME, status_code=303)
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=int((session.expires_at - utcnow()).total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=over_https(request),
    )
    return response


async def signout(request: Request) -> Response:
    """Revoke the session server-side and clear the cookie; 303 to the sign-in page, or for a
    single sign-on session with ``oidc_provider_signout``, to the provider's end-session endpoint
    (which sends the browser back to the sign-in page)."""
    if not same_origin(request):
        return PlainTextResponse("cross-site sign-out refused", status_code=403)
    settings = get_settings()
    token = session_token(request)
    destination = HOME
    if token:
        await run_in_threadpool(deferred.drain, token, SIGNOUT_DRAIN_S)
        checked_sessions.forget(token)
        id_token = await run_in_threadpool(auth.logout, get_database(settings), token)
        if id_token and settings.oidc_provider_signout and sso.configured(settings):
            back = public_base(request) + HOME
            destination = await run_in_threadpool(_provider_signout, settings, id_token, back)
    response = RedirectResponse(destination, status_code=303)
    clear_cookie(response)
    return response


def _provider_signout(settings: Settings, id_token: str, back: str) -> str:
    """The provider's end-session URL, or the sign-in page where it has none or cannot be
    reached (the dashboard's session has ended either way; the log says why)."""
    try:
        url = sso.client(settings).end_session_url(id_token, back)
    except sso.SsoError as e:
        logger.warning("signed out here, but not at the provider: %s", e)
        return HOME
    if url is None:
        logger.warning(
            "signed out here, but not at the provider: its metadata has no end_session_endpoint"
        )
        return HOME
    return url


routes = [
    Route(SIGNIN_PATH, signin, methods=["POST"]),
    Route(SIGNOUT_PATH, signout, methods=["POST"]),
]
