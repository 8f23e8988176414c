"""Session keys and who is signed in.

The browser holds only an opaque sign-in token, in the HttpOnly cookie that the sign-in route
(:mod:`dashboard.routes.session`) sets; it reaches the app with the page's connection
(``st.context.cookies``), so a reload keeps the session. The user and role are resolved from
the database through that token at the start of every run (by the router) and again inside
every action, so editing ``st.session_state`` cannot grant rights. A run that starts with an
action (a button's callback) reuses the user the action has just read for the router, instead
of opening the database a second time for the same answer. An action whose write runs after the
page (:mod:`dashboard.deferred`) checks the session in that write; its run reuses the user found
valid at most ``DEFERRED_CHECK_S`` before, so the page does not wait behind the write.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st
from sqlmodel import Session
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core import auth
from core.auth import CurrentUser, PermissionDeniedError
from core.config import get_settings
from core.sso import SsoError, SsoRefusedError
from dashboard.routes.recent import Recent
from dashboard.routes.session import (
    COOKIE,
    INVALID,
    PASSWORD_OFF,
    RATE_LIMITED,
    SIGNIN_RESULT_PARAM,
    checked_sessions,
)
from db.engine import Database
from db.tables import Role

TOKEN = "auth_token"  # a token handed to the session directly (AppTest: it sends no cookies)
REJECTED = "rejected_token"  # the last token found dead, so its notice is shown once
USER = "current_user"  # resolved from TOKEN by the router on each run; display only
FLASH = "flash"  # one-shot message shown by the router (e.g. "session expired")
ACTION_USER_FRESH_S = 1.0  # older than this, the router reads the user again
CHECKED_AT = "session_checked_at"  # time.monotonic() when the session was last found valid
DEFERRED_CHECK_S = 5.0  # as long as the media routes trust a check (dashboard.routes.recent)

# review flow (shared by the queue and review pages)
REVIEW_VIDEO = "review_video_id"
BASELINES = "review_baselines"  # {video_id: Baseline}: what the review form was built from
SKIPPED = "review_skipped_ids"
REVIEW_NEXT = "review_next_id"  # claimed and loaded while the current video is reviewed
LOADED = "review_loaded"  # {video_id: ReviewData} of the open and the prepared video
QUEUE_FILTERS = "queue_filters"


@dataclass(frozen=True)
class Handover:
    """The user a callback leaves for the router of the same run."""

    token: str | None
    user: CurrentUser
    checked: bool  # read from the database by the callback; False: a deferred write checks it


# handovers by Streamlit session id; kept out of st.session_state, which pages write to
_action_users: Recent[str, Handover] = Recent(ACTION_USER_FRESH_S)


@dataclass(frozen=True)
class Baseline:
    """The video as the review form first read it: the version to save against and the
    tags the form's widgets were built from (kept stable so a conflict never resets them)."""

    version: int
    labels: tuple[str, ...]  # ticked at first
    candidates: tuple[str, ...]  # one checkbox each


@dataclass(frozen=True)
class ReviewWrite:
    """A review page's write handed to the session's worker (:mod:`dashboard.deferred`): the
    video, what was done (``save``, ``skip``, ``flag``), the video shown next, and for a save
    the tags sent and the form they came from (to offer them again when the save is refused)."""

    video_id: int
    action: str
    then_claim: int | None
    node_ids: tuple[str, ...] = ()
    baseline: Baseline | None = None


def init() -> None:
    """Shared keys with their defaults (called once per run by the router)."""
    st.session_state.setdefault(TOKEN, None)
    st.session_state.setdefault(BASELINES, {})
    st.session_state.setdefault(SKIPPED, [])
    st.session_state.setdefault(REVIEW_VIDEO, None)
    st.session_state.setdefault(LOADED, {})


def token() -> str | None:
    """The token this browser session presents: the session cookie it connected with, else
    one handed to the session directly."""
    cookie = st.context.cookies.get(COOKIE)
    # only a real browser connection has cookies (AppTest's stand-in runtime answers with mocks)
    return cookie if isinstance(cookie, str) and cookie else st.session_state.get(TOKEN)


def resolve(db: Database) -> CurrentUser | None:
    """The signed-in user read from the database now, or None (a dead token gets one notice).

    The review keys belong to one user: they are reset when the user changes (sign-out, or
    another account signed in from the same browser).
    """
    presented = token()
    handed = _handed_over(presented)
    if handed is not None:
        user = handed.user
    else:
        user = None
        if presented:
            user = auth.resolve_session(db, presented)
            st.session_state[CHECKED_AT] = time.monotonic()
    # the media the page shows next need not check again (a deferred check has not happened yet)
    if user is not None and presented and (handed is None or handed.checked):
        checked_sessions.put(presented, user)
    if presented and user is None:
        st.session_state[TOKEN] = None
        if st.session_state.get(REJECTED) != presented:
            st.session_state[REJECTED] = presented
            st.session_state[FLASH] = "Your session has expired or was ended. Please sign in again."
    previous = st.session_state.get(USER)
    if previous is not None and (user is None or user.id != previous.id):
        st.session_state[REVIEW_VIDEO] = None
        st.session_state[REVIEW_NEXT] = None
        st.session_state[BASELINES] = {}
        st.session_state[LOADED] = {}
        st.session_state[SKIPPED] = []
    st.session_state[USER] = user
    return user


def _handed_over(presented: str | None) -> Handover | None:
    """What this run's action left for the router for the same token a moment ago, else None.

    Callbacks run just before the script, in the same run; the entry is taken out here, so it
    serves one run at most, and the age limit covers a run stopped between the two.
    """
    ctx = get_script_run_ctx()
    if ctx is None:
        return None
    handed = _action_users.get(ctx.session_id)
    _action_users.forget(ctx.session_id)
    if handed is None or not presented or handed.token != presented:
        return None
    return handed


def signin_problem() -> str | None:
    """Why the last sign-in was refused, from the sign-in route's redirect (shown once)."""
    reason = st.query_params.pop(SIGNIN_RESULT_PARAM, None)
    if reason == INVALID:
        return "Wrong username or password."
    if reason == RATE_LIMITED:
        return "Too many failed sign-ins for this username; try again in a few minutes."
    provider = get_settings().oidc_name
    if reason == PASSWORD_OFF:
        return f"Passwords are not accepted here: sign in with {provider}."
    if reason == SsoRefusedError.reason:
        return (
            f"{provider} signed you in, but that gives no access here (no account for you, none "
            "of your groups has a role here, or the account is disabled): ask an admin."
        )
    if reason == SsoError.reason:
        return (
            f"Sign-in with {provider} did not complete: try again. If it keeps failing, an "
            "admin finds the reason in the dashboard server's log."
        )
    return None


def user() -> CurrentUser:
    """The user the router resolved for this run (pages run only when someone is signed in)."""
    current = st.session_state.get(USER)
    if current is None:
        raise PermissionDeniedError("sign in first")
    return current


def require(db: Database, role: str = Role.ADMIN) -> CurrentUser:
    """Re-resolve the token and check the role right before a privileged action."""
    with db.session() as session:
        return require_in(session, role)


def require_in(session: Session, role: str = Role.ADMIN) -> CurrentUser:
    """:func:`require` inside the action's own unit of work: on DuckDB each unit of work opens
    the database file (~17 ms for 20,000 videos), and a check in a unit of its own doubled that
    for every save and answer. In a button's callback, the user read is left for the router of
    the same run."""
    presented = token()
    user = require_token_in(session, presented, role)
    ctx = get_script_run_ctx()
    if ctx and not ctx.has_script_started:  # a callback, run before this run's router
        _action_users.put(ctx.session_id, Handover(presented, user, checked=True))
        st.session_state[CHECKED_AT] = time.monotonic()
    return user


def require_token_in(session: Session, presented: str | None, role: str) -> CurrentUser:
    """:func:`require_in` for a token read before: work deferred to a worker thread
    (:mod:`dashboard.deferred`) has no page run to read the browser's cookie from."""
    return auth.require_role(auth.resolve_in(session, presented), role)


def defer_check() -> None:
    """Called by a callback whose write is deferred (and checks the session itself): this run's
    router reuses the user of the last check if it is at most ``DEFERRED_CHECK_S`` old, rather
    than queue for the database behind that write; otherwise it checks as usual.

    A session ended elsewhere meanwhile is refused by the write and by the next run's check.
    """
    ctx = get_script_run_ctx()
    checked_at = st.session_state.get(CHECKED_AT)
    previous = st.session_state.get(USER)
    if ctx is None or ctx.has_script_started or previous is None or checked_at is None:
        return
    if time.monotonic() - checked_at <= DEFERRED_CHECK_S:
        _action_users.put(ctx.session_id, Handover(token(), previous, checked=False))


def confirm_check(checked_at: float) -> None:
    """A deferred write found the session valid at ``checked_at`` (``time.monotonic()``): that
    counts as a check for :func:`defer_check`."""
    st.session_state[CHECKED_AT] = max(checked_at, st.session_state.get(CHECKED_AT, checked_at))
