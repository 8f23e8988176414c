"""Session keys and who is signed in.

The browser session holds only an opaque sign-in token. The user and role are resolved from the
database through that token at the start of every run (by the router) and again inside every
admin action, so editing ``st.session_state`` cannot grant rights.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core import auth
from core.auth import CurrentUser, PermissionDeniedError
from db.engine import Database
from db.tables import Role

TOKEN = "auth_token"
USER = "current_user"  # resolved from TOKEN by the router on each run; display only
FLASH = "flash"  # one-shot message shown by the router (e.g. "session expired")

# review flow (shared by the queue and review pages)
REVIEW_VIDEO = "review_video_id"
BASELINES = "review_baselines"  # {video_id: Baseline}: what the review form was built from
SKIPPED = "review_skipped_ids"
REVIEW_NEXT = "review_next_id"  # claimed and loaded while the current video is reviewed
LOADED = "review_loaded"  # {video_id: ReviewData} of the open and the prepared video
QUEUE_FILTERS = "queue_filters"


@dataclass(frozen=True)
class Baseline:
    """The video as the review form first read it: the version to save against and the
    tags the form's widgets were built from (kept stable so a conflict never resets them)."""

    version: int
    labels: tuple[str, ...]  # ticked at first
    candidates: tuple[str, ...]  # one checkbox each


def init() -> None:
    """Shared keys with their defaults (called once per run by the router)."""
    st.session_state.setdefault(TOKEN, None)
    st.session_state.setdefault(BASELINES, {})
    st.session_state.setdefault(SKIPPED, [])
    st.session_state.setdefault(REVIEW_VIDEO, None)
    st.session_state.setdefault(LOADED, {})


def resolve(db: Database) -> CurrentUser | None:
    """The signed-in user read from the database now, or None (expired sessions are cleared)."""
    token = st.session_state.get(TOKEN)
    user = auth.resolve_session(db, token) if token else None
    if token and user is None:
        st.session_state[TOKEN] = None
        st.session_state[FLASH] = "Your session has expired or was ended. Please sign in again."
    st.session_state[USER] = user
    return user


def user() -> CurrentUser:
    """The user the router resolved for this run (pages run only when someone is signed in)."""
    current = st.session_state.get(USER)
    if current is None:
        raise PermissionDeniedError("sign in first")
    return current


def require(db: Database, role: str = Role.ADMIN) -> CurrentUser:
    """Re-resolve the token and check the role right before a privileged action."""
    token = st.session_state.get(TOKEN)
    return auth.require_role(auth.resolve_session(db, token) if token else None, role)


def sign_in(db: Database, username: str, password: str) -> CurrentUser:
    """Raises ``auth.InvalidCredentialsError`` / ``auth.RateLimitedError``."""
    session = auth.authenticate(db, username, password)
    st.session_state[TOKEN] = session.token
    st.session_state[USER] = session.user
    st.session_state.pop(FLASH, None)
    return session.user


def sign_out(db: Database) -> None:
    token = st.session_state.get(TOKEN)
    if token:
        auth.logout(db, token)
    for key in (TOKEN, USER, REVIEW_VIDEO, REVIEW_NEXT):
        st.session_state[key] = None
    st.session_state[BASELINES] = {}
    st.session_state[LOADED] = {}
    st.session_state[SKIPPED] = []
