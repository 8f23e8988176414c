"""Sign-in: argon2 hashes, rate limiting, expiring hashed sessions, roles read from the DB."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from core import auth
from core.auth import (
    CurrentUser,
    InvalidCredentialsError,
    InvalidUserError,
    PermissionDeniedError,
    RateLimitedError,
)
from core.config import Settings
from db.engine import Database, init_db
from db.models import AuditAction, User, UserSession, utcnow
from db.queries import DuplicateError, audit, users

PASSWORD = "correct horse battery"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"duckdb:///{tmp_path / 'auth.duckdb'}")
    init_db(database)
    return database


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, login_max_failures=3, login_window_seconds=60, session_hours=2)


def test_password_is_stored_as_argon2_hash(db: Database) -> None:
    user = auth.create_user(db, username="ann", password=PASSWORD, role="admin")
    assert user == CurrentUser(id=user.id, username="ann", role="admin")
    with db.session() as session:
        stored = users.get_user_by_name(session, username="ann").password_hash
        assert stored.startswith("$argon2") and PASSWORD not in stored
        assert audit.list_audit(session, action=AuditAction.USER_ADDED)[0].detail_json.count(PASSWORD) == 0
    assert auth.verify_password(stored, PASSWORD) and not auth.verify_password(stored, "wrong")


def test_bad_accounts_are_refused(db: Database) -> None:
    auth.create_user(db, username="ann", password=PASSWORD)
    with pytest.raises(DuplicateError):
        auth.create_user(db, username="ann", password=PASSWORD)
    with pytest.raises(InvalidUserError, match="at least"):
        auth.create_user(db, username="bob", password="short")
    with pytest.raises(InvalidUserError, match="without spaces"):
        auth.create_user(db, username="bo b", password=PASSWORD)
    with pytest.raises(InvalidUserError, match="unknown role"):
        auth.create_user(db, username="bob", password=PASSWORD, role="root")


def test_sign_in_and_session_resolution(db: Database, settings: Settings) -> None:
    auth.create_user(db, username="ann", password=PASSWORD)
    token = auth.authenticate(db, "ann", PASSWORD, settings=settings)
    assert token.user.username == "ann" and token.user.role == "moderator"
    assert auth.resolve_session(db, token.token) == token.user
    with db.session() as session:
        stored = session.exec(select(UserSession)).one()
    assert stored.token_hash != token.token and token.token not in stored.token_hash
    assert auth.resolve_session(db, "forged-token") is None
    assert auth.resolve_session(db, "") is None
    auth.logout(db, token.token)
    assert auth.resolve_session(db, token.token) is None


def test_wrong_password_unknown_user_and_disabled_look_the_same(db: Database, settings: Settings) -> None:
    ann = auth.create_user(db, username="ann", password=PASSWORD)
    for name, password in [("ann", "nope-nope"), ("ghost", PASSWORD)]:
        with pytest.raises(InvalidCredentialsError, match="invalid username or password"):
            auth.authenticate(db, name, password, settings=settings)
    with db.session() as session:
        users.update_user(session, user_id=ann.id, disabled=True)
    with pytest.raises(InvalidCredentialsError):
        auth.authenticate(db, "ann", PASSWORD, settings=settings)
    with db.session() as session:
        failed = audit.list_audit(session, action=AuditAction.LOGIN_FAILED)
    assert sorted(e.username for e in failed) == ["ann", "ann", "ghost"]


def test_rate_limit_per_user_and_window(db: Database, settings: Settings) -> None:
    auth.create_user(db, username="ann", password=PASSWORD)
    auth.create_user(db, username="bob", password=PASSWORD)
    now = utcnow()
    for _ in range(settings.login_max_failures):
        with pytest.raises(InvalidCredentialsError):
            auth.authenticate(db, "ann", "wrong-pass", settings=settings, now=now)
    with pytest.raises(RateLimitedError):
        auth.authenticate(db, "ann", PASSWORD, settings=settings, now=now)  # even the right password
    assert auth.authenticate(db, "bob", PASSWORD, settings=settings, now=now).user.username == "bob"
    later = now + timedelta(seconds=settings.login_window_seconds + 1)
    assert auth.authenticate(db, "ann", PASSWORD, settings=settings, now=later).user.username == "ann"


def test_sessions_expire(db: Database, settings: Settings) -> None:
    auth.create_user(db, username="ann", password=PASSWORD)
    token = auth.authenticate(db, "ann", PASSWORD, settings=settings)
    assert token.expires_at - utcnow() <= timedelta(hours=settings.session_hours)
    assert auth.resolve_session(db, token.token, now=token.expires_at - timedelta(minutes=1)) is not None
    assert auth.resolve_session(db, token.token, now=token.expires_at + timedelta(seconds=1)) is None


def test_role_comes_from_the_database_every_time(db: Database, settings: Settings) -> None:
    ann = auth.create_user(db, username="ann", password=PASSWORD, role="admin")
    token = auth.authenticate(db, "ann", PASSWORD, settings=settings)
    assert auth.require_role(auth.resolve_session(db, token.token), "admin")
    with db.session() as session:
        users.update_user(session, user_id=ann.id, role="moderator")
    demoted = auth.resolve_session(db, token.token)
    assert demoted.role == "moderator"
    with pytest.raises(PermissionDeniedError, match="admin"):
        auth.require_role(demoted, "admin")
    assert auth.require_role(demoted, "moderator") == demoted
    with pytest.raises(PermissionDeniedError, match="sign in"):
        auth.require_role(None, "moderator")
    # a client that forges an admin CurrentUser still resolves to the stored role
    forged = CurrentUser(id=ann.id, username="ann", role="admin")
    assert auth.resolve_session(db, token.token) != forged
    with db.session() as session:
        users.update_user(session, user_id=ann.id, disabled=True)
    assert auth.resolve_session(db, token.token) is None
    with db.session() as session:
        assert session.exec(select(User)).one().role == "moderator"
