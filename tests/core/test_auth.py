"""Sign-in: argon2 hashes, rate limiting, expiring hashed sessions, roles read from the DB."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
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
from db.queries import DuplicateError, audit, users
from db.tables import AuditAction, AuditLog, LoginAttempt, User, UserSession, utcnow

PASSWORD = "correct horse battery"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"duckdb:///{tmp_path / 'auth.duckdb'}")
    init_db(database)
    return database


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path, login_max_failures=3, login_window_seconds=60, session_hours=2
    )


def _unknown_key(username: str) -> str:
    return "unknown:" + hashlib.sha256(username.encode()).hexdigest()[:16]


def test_outside_tests_passwords_get_argon2s_default_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the suite's cheap hasher (tests/conftest.py) is gone: the product's own
    default = PasswordHasher()
    hashed = auth.hash_password(PASSWORD)
    assert f"m={default.memory_cost},t={default.time_cost},p={default.parallelism}" in hashed


def test_password_is_stored_as_argon2_hash(db: Database) -> None:
    user = auth.create_user(db, username="ann", password=PASSWORD, role="admin")
    assert user == CurrentUser(id=user.id, username="ann", role="admin")
    with db.session() as session:
        stored = users.get_user_by_name(session, username="ann").password_hash
        assert stored.startswith("$argon2") and PASSWORD not in stored
        assert (
            audit.list_audit(session, action=AuditAction.USER_ADDED)[0].detail_json.count(PASSWORD)
            == 0
        )
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


def test_wrong_password_unknown_user_and_disabled_look_the_same(
    db: Database, settings: Settings
) -> None:
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
    assert sorted(e.username for e in failed) == ["ann", "ann", _unknown_key("ghost")]


def test_rate_limit_per_user_and_window(db: Database, settings: Settings) -> None:
    auth.create_user(db, username="ann", password=PASSWORD)
    auth.create_user(db, username="bob", password=PASSWORD)
    now = utcnow()
    for _ in range(settings.login_max_failures):
        with pytest.raises(InvalidCredentialsError):
            auth.authenticate(db, "ann", "wrong-pass", settings=settings, now=now)
    with pytest.raises(RateLimitedError):
        auth.authenticate(
            db, "ann", PASSWORD, settings=settings, now=now
        )  # even the right password
    assert auth.authenticate(db, "bob", PASSWORD, settings=settings, now=now).user.username == "bob"
    later = now + timedelta(seconds=settings.login_window_seconds + 1)
    assert (
        auth.authenticate(db, "ann", PASSWORD, settings=settings, now=later).user.username == "ann"
    )


def test_sessions_expire(db: Database, settings: Settings) -> None:
    auth.create_user(db, username="ann", password=PASSWORD)
    token = auth.authenticate(db, "ann", PASSWORD, settings=settings)
    assert token.expires_at - utcnow() <= timedelta(hours=settings.session_hours)
    assert (
        auth.resolve_session(db, token.token, now=token.expires_at - timedelta(minutes=1))
        is not None
    )
    assert (
        auth.resolve_session(db, token.token, now=token.expires_at + timedelta(seconds=1)) is None
    )


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


def test_a_password_typed_as_the_username_is_stored_only_as_a_digest(
    db: Database, settings: Settings
) -> None:
    secret = "s3cret-Passphrase-xyz"
    for _ in range(settings.login_max_failures):
        with pytest.raises(InvalidCredentialsError):
            auth.authenticate(db, f" {secret} ", secret, settings=settings)
    with pytest.raises(RateLimitedError) as limited:  # counted under the digest, like a known name
        auth.authenticate(db, secret, secret, settings=settings)
    assert secret not in str(limited.value)
    with db.session() as session:
        attempts = {a.username for a in session.exec(select(LoginAttempt))}
        audited = {e.username for e in session.exec(select(AuditLog))}
    assert attempts == audited == {_unknown_key(secret)}


def test_an_attempt_counts_as_a_failure_during_the_hash_check(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So a guess running in parallel already sees it; a success then ends the run of failures."""
    auth.create_user(db, username="ann", password=PASSWORD)
    now = utcnow()
    since = now - timedelta(seconds=settings.login_window_seconds)
    real_verify = auth.verify_password
    counted: list[int] = []

    def spying_verify(password_hash: str, password: str) -> bool:
        with db.session() as session:
            counted.append(users.count_failed_logins(session, username="ann", since=since))
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", spying_verify)
    with pytest.raises(InvalidCredentialsError):
        auth.authenticate(db, "ann", "wrong-pass", settings=settings, now=now)
    auth.authenticate(db, "ann", PASSWORD, settings=settings, now=now)
    assert counted == [1, 2]
    with db.session() as session:
        assert users.count_failed_logins(session, username="ann", since=since) == 0


def test_parallel_guesses_cannot_exceed_the_limit(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth.create_user(database, username="ann", password=PASSWORD)
    n = 8
    now = utcnow()
    real_verify = auth.verify_password
    barrier = threading.Barrier(n)

    def slow_verify(password_hash: str, password: str) -> bool:  # every guess overlaps every other
        time.sleep(0.5)
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", slow_verify)

    def guess(i: int) -> str:
        barrier.wait(timeout=60)
        try:
            auth.authenticate(database, "ann", f"parallel guess {i}", settings=settings, now=now)
        except InvalidCredentialsError:
            return "checked"
        except RateLimitedError:
            return "refused"
        return "signed in"

    with ThreadPoolExecutor(n) as pool:
        outcomes = list(pool.map(guess, range(n)))
    assert sorted(outcomes) == ["checked"] * settings.login_max_failures + ["refused"] * (
        n - settings.login_max_failures
    )


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_serialises_attempts_per_username(
    new_postgres_db: Callable[[], str], settings: Settings
) -> None:
    """DuckDB's file lock serialises units of work; on PostgreSQL an advisory lock per name does."""
    pg = Database(new_postgres_db())
    init_db(pg)
    try:
        auth.create_user(pg, username="ann", password=PASSWORD)
        outcome: list[type[Exception]] = []

        def attempt() -> None:
            try:
                auth.authenticate(pg, "ann", "wrong-pass", settings=settings)
            except InvalidCredentialsError as e:
                outcome.append(type(e))

        with pg.session() as holder:
            users.lock_login_attempts(holder, username="ann")
            worker = threading.Thread(target=attempt)
            worker.start()
            waiting = 0
            deadline = time.monotonic() + 60
            while waiting == 0 and worker.is_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
                with pg.engine.connect() as conn:
                    waiting = conn.execute(
                        text(
                            "SELECT count(*) FROM pg_locks "
                            "WHERE locktype = 'advisory' AND NOT granted"
                        )
                    ).scalar_one()
            assert waiting == 1, "the sign-in attempt did not wait for the lock on its username"
            with pg.session() as other:  # another name is not held up
                users.lock_login_attempts(other, username="bob")
        worker.join(timeout=60)
        assert outcome == [InvalidCredentialsError]
    finally:
        pg.dispose()


def test_disable_signs_the_account_out_everywhere_and_is_audited(
    db: Database, settings: Settings
) -> None:
    auth.create_user(db, username="ann", password=PASSWORD)
    boss = auth.create_user(db, username="boss", password=PASSWORD, role="admin")
    token = auth.authenticate(db, "ann", PASSWORD, settings=settings).token
    assert auth.disable_user(db, username="ann", by=boss).username == "ann"
    assert auth.resolve_session(db, token) is None
    with pytest.raises(InvalidCredentialsError):
        auth.authenticate(db, "ann", PASSWORD, settings=settings)
    with db.session() as session:
        [entry] = audit.list_audit(session, action=AuditAction.USER_DISABLED)
    assert entry.username == "boss" and '"username": "ann"' in entry.detail_json
    with pytest.raises(auth.UnknownUserError, match="no user 'nobody'"):
        auth.disable_user(db, username="nobody")


def test_reset_password_generated_or_given(db: Database, settings: Settings) -> None:
    auth.create_user(db, username="ann", password=PASSWORD)
    token = auth.authenticate(db, "ann", PASSWORD, settings=settings).token
    generated = auth.reset_password(db, username="ann")
    assert len(generated) >= auth.MIN_PASSWORD_LENGTH
    assert auth.resolve_session(db, token) is None
    assert auth.authenticate(db, "ann", generated, settings=settings).user.username == "ann"
    assert auth.reset_password(db, username="ann", password="brand new pw") == "brand new pw"
    assert auth.authenticate(db, "ann", "brand new pw", settings=settings).user.username == "ann"
    with db.session() as session:
        entries = audit.list_audit(session, action=AuditAction.PASSWORD_RESET)
    assert sorted('"generated": true' in e.detail_json for e in entries) == [False, True]
    assert not any(generated in e.detail_json for e in entries)
    with pytest.raises(InvalidUserError, match="at least 8"):
        auth.reset_password(db, username="ann", password="short")
    with pytest.raises(auth.UnknownUserError):
        auth.reset_password(db, username="nobody", password="long enough")


def test_roles_change_audited_and_an_admin_is_always_left(db: Database, settings: Settings) -> None:
    boss = auth.create_user(db, username="boss", password=PASSWORD, role="admin")
    ann = auth.create_user(db, username="ann", password=PASSWORD)
    token = auth.authenticate(db, "ann", PASSWORD, settings=settings).token
    assert auth.set_role(db, username="ann", role="lead", by=boss).role == "lead"
    assert auth.resolve_session(db, token).is_lead  # the live session has the new role
    with pytest.raises(auth.LastAdminError, match="only admin who can sign in"):
        auth.set_role(db, username="boss", role="moderator", by=boss)
    with pytest.raises(auth.LastAdminError):
        auth.disable_user(db, username="boss", by=boss)
    auth.set_role(db, username="ann", role="admin", by=boss)
    auth.set_role(db, username="boss", role="moderator", by=boss)  # ann is admin now
    auth.create_user(db, username="eve", password=PASSWORD, role="admin")
    auth.disable_user(db, username="eve")
    with pytest.raises(auth.LastAdminError):  # a disabled admin does not count
        auth.set_role(db, username="ann", role="lead")
    with pytest.raises(InvalidUserError, match="unknown role 'owner'"):
        auth.set_role(db, username="ann", role="owner")
    with pytest.raises(auth.UnknownUserError):
        auth.set_role(db, username="nobody", role="lead")
    with db.session() as session:
        changes = [
            json.loads(e.detail_json)
            for e in audit.list_audit(session, action=AuditAction.ROLE_CHANGED)
        ]
        stored = {u.username: u.role for u in users.list_users(session)}
    assert stored == {"ann": "admin", "boss": "moderator", "eve": "admin"}
    assert sorted((c["username"], c["from"], c["to"]) for c in changes) == [
        ("ann", "lead", "admin"),
        ("ann", "moderator", "lead"),
        ("boss", "admin", "moderator"),
    ]
    assert {c["user_id"] for c in changes} == {ann.id, boss.id}


def test_a_renamed_account_keeps_its_sessions_attempts_and_history(
    db: Database, settings: Settings
) -> None:
    boss = auth.create_user(db, username="boss", password=PASSWORD, role="admin")
    ann = auth.create_user(db, username="ann@old.example", password=PASSWORD, role="lead")
    token = auth.authenticate(db, "ann@old.example", PASSWORD, settings=settings).token
    now = utcnow()
    for _ in range(settings.login_max_failures):  # a guesser's failures, under the old name
        with pytest.raises(InvalidCredentialsError):
            auth.authenticate(db, "ann@old.example", "wrong-pass", settings=settings, now=now)
    renamed = auth.rename_user(
        db, username="ann@old.example", new_username=" ann@new.example ", by=boss
    )
    assert (renamed.id, renamed.username, renamed.role) == (ann.id, "ann@new.example", "lead")
    assert auth.resolve_session(db, token).username == "ann@new.example"  # still signed in
    with pytest.raises(RateLimitedError):  # the failures moved with the name
        auth.authenticate(db, "ann@new.example", PASSWORD, settings=settings, now=now)
    later = now + timedelta(seconds=settings.login_window_seconds + 1)
    assert auth.authenticate(db, "ann@new.example", PASSWORD, settings=settings, now=later)
    with pytest.raises(InvalidCredentialsError):  # the old name is nobody now
        auth.authenticate(db, "ann@old.example", PASSWORD, settings=settings, now=later)
    with pytest.raises(DuplicateError, match="already exists"):
        auth.rename_user(db, username="ann@new.example", new_username="boss")
    with pytest.raises(InvalidUserError, match="without spaces"):
        auth.rename_user(db, username="ann@new.example", new_username="ann new")
    auth.rename_user(db, username="ann@new.example", new_username="Ann@new.example")  # case only
    auth.rename_user(db, username="Ann@new.example", new_username="Ann@new.example")  # no change
    with db.session() as session:
        renames = [
            (e.username, json.loads(e.detail_json))
            for e in audit.list_audit(session, action=AuditAction.USER_RENAMED)
        ]
    assert sorted(renames, key=lambda r: r[1]["to"]) == [
        (None, {"user_id": ann.id, "from": "ann@new.example", "to": "Ann@new.example"}),
        ("boss", {"user_id": ann.id, "from": "ann@old.example", "to": "ann@new.example"}),
    ]


def test_a_disabled_admin_can_be_enabled_and_signs_in_again(
    db: Database, settings: Settings
) -> None:
    boss = auth.create_user(db, username="boss", password=PASSWORD, role="admin")
    auth.create_user(db, username="eve", password=PASSWORD, role="admin")
    old = auth.authenticate(db, "eve", PASSWORD, settings=settings).token
    auth.disable_user(db, username="eve", by=boss)  # another admin is left: allowed
    with pytest.raises(InvalidCredentialsError):
        auth.authenticate(db, "eve", PASSWORD, settings=settings)
    assert auth.enable_user(db, username="eve", by=boss).username == "eve"
    assert auth.authenticate(db, "eve", PASSWORD, settings=settings).user.is_admin
    assert auth.resolve_session(db, old) is None  # sessions ended by the disable stay ended
    with db.session() as session:
        [entry] = audit.list_audit(session, action=AuditAction.USER_ENABLED)
    assert entry.username == "boss" and '"username": "eve"' in entry.detail_json


def test_postgres_never_demotes_both_of_two_admins_at_once(
    new_postgres_db: Callable[[], str],
) -> None:
    """Two admins demoting each other in parallel: the account lock lets one through."""
    db = Database(new_postgres_db())
    init_db(db)
    ann = auth.create_user(db, username="ann", password=PASSWORD, role="admin")
    bob = auth.create_user(db, username="bob", password=PASSWORD, role="admin")
    barrier = threading.Barrier(2)

    def demote(name: str, by: CurrentUser) -> str:
        barrier.wait()
        try:
            auth.set_role(db, username=name, role="moderator", by=by)
        except auth.LastAdminError:
            return "refused"
        return "demoted"

    try:
        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(demote, ["ann", "bob"], [bob, ann]))
        with db.session() as session:
            admins = users.count_users(session, role="admin", disabled=False)
    finally:
        db.dispose()
    assert outcomes == ["demoted", "refused"] and admins == 1


def test_an_account_changes_its_own_password_and_stays_signed_in_here(
    db: Database, settings: Settings
) -> None:
    auth.create_user(db, username="ann", password=PASSWORD)
    here = auth.authenticate(db, "ann", PASSWORD, settings=settings)
    elsewhere = auth.authenticate(db, "ann", PASSWORD, settings=settings).token
    auth.change_password(
        db,
        user=here.user,
        current_password=PASSWORD,
        new_password="a new long password",
        keep_token=here.token,
        settings=settings,
    )
    assert auth.resolve_session(db, here.token).username == "ann"
    assert auth.resolve_session(db, elsewhere) is None
    with pytest.raises(InvalidCredentialsError):
        auth.authenticate(db, "ann", PASSWORD, settings=settings)
    assert auth.authenticate(db, "ann", "a new long password", settings=settings)
    with db.session() as session:
        [entry] = audit.list_audit(session, action=AuditAction.PASSWORD_CHANGED)
    assert entry.username == "ann" and "a new long password" not in entry.detail_json


def test_changing_a_password_needs_the_current_one_and_is_rate_limited(
    db: Database, settings: Settings
) -> None:
    auth.create_user(db, username="ann", password=PASSWORD)
    ann = auth.authenticate(db, "ann", PASSWORD, settings=settings).user

    def change(current: str, new: str = "a new long password") -> None:
        auth.change_password(
            db, user=ann, current_password=current, new_password=new, settings=settings
        )

    with pytest.raises(InvalidUserError, match="at least 8"):
        change(PASSWORD, "short")
    with pytest.raises(InvalidUserError, match="same as the current"):
        change(PASSWORD, PASSWORD)
    for _ in range(settings.login_max_failures):
        with pytest.raises(InvalidCredentialsError):
            change("a wrong guess")
    with pytest.raises(RateLimitedError):  # the right one too, until the window passes
        change(PASSWORD)
    with pytest.raises(RateLimitedError):  # and sign-in shares the count
        auth.authenticate(db, "ann", PASSWORD, settings=settings)
    with db.session() as session:
        failed = audit.list_audit(session, action=AuditAction.LOGIN_FAILED)
        assert not audit.list_audit(session, action=AuditAction.PASSWORD_CHANGED)
    assert len(failed) == settings.login_max_failures
    assert auth.verify_password(_hash_of(db, "ann"), PASSWORD)  # unchanged


def _hash_of(db: Database, username: str) -> str:
    with db.session() as session:
        return users.get_user_by_name(session, username=username).password_hash


def test_review_languages_are_checked_stored_audited_and_read_with_the_session(
    db: Database, settings: Settings
) -> None:
    boss = auth.create_user(db, username="boss", password=PASSWORD, role="admin")
    auth.create_user(db, username="ann", password=PASSWORD)
    token = auth.authenticate(db, "ann", PASSWORD, settings=settings).token
    assert auth.set_languages(db, username="ann", languages=[" RU", "de", "de", ""], by=boss) == (
        "de",
        "ru",
    )
    assert auth.resolve_session(db, token).languages == ("de", "ru")
    for bad in (["german"], ["d"], ["zxx"], ["de;ru"]):
        with pytest.raises(InvalidUserError, match="not a language code"):
            auth.set_languages(db, username="ann", languages=bad)
    assert auth.set_languages(db, username="ann", languages=[]) == ()  # any language
    assert auth.resolve_session(db, token).languages == ()
    with db.session() as session:
        changes = [
            json.loads(e.detail_json)
            for e in audit.list_audit(session, action=AuditAction.LANGUAGES_SET)
        ]
    assert [(c["from"], c["to"]) for c in reversed(changes)] == [
        ([], ["de", "ru"]),
        (["de", "ru"], []),
    ]


def test_an_account_signs_out_everywhere_else(db: Database, settings: Settings) -> None:
    auth.create_user(db, username="ann", password=PASSWORD)
    here = auth.authenticate(db, "ann", PASSWORD, settings=settings)
    laptop = auth.authenticate(db, "ann", PASSWORD, settings=settings).token
    phone = auth.authenticate(db, "ann", PASSWORD, settings=settings).token
    auth.logout(db, phone)  # already ended: not counted
    assert auth.end_other_sessions(db, user=here.user, keep_token=here.token) == 1
    assert auth.resolve_session(db, here.token).username == "ann"
    assert auth.resolve_session(db, laptop) is None
    assert auth.end_other_sessions(db, user=here.user, keep_token=here.token) == 0
    with db.session() as session:
        entries = audit.list_audit(session, action=AuditAction.SESSIONS_ENDED)
    assert [json.loads(e.detail_json)["sessions"] for e in entries] == [0, 1]
