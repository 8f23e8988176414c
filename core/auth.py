"""Users and sign-in: argon2 password hashes, rate-limited login, hashed expiring session tokens.

The role is read from the database on every :func:`resolve_session`, so nothing the client
holds (a Streamlit session state, a cookie) can raise a user's rights. Passwords are never
logged or stored in clear (nor is an unknown username, which may be a mistyped password); only
the sha256 of a session token is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session

from core.config import Settings, get_settings
from core.errors import TaggerError
from db.engine import Database
from db.queries import Actor
from db.queries import audit as audit_queries
from db.queries import users as user_queries
from db.tables import NO_SPEECH, AuditAction, Role, User, utcnow

MIN_PASSWORD_LENGTH = 8
GENERATED_PASSWORD_BYTES = 12  # secrets.token_urlsafe: 16 characters
MAX_USERNAME_LENGTH = 64
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
ROLE_RANK = {Role.MODERATOR.value: 1, Role.LEAD.value: 2, Role.ADMIN.value: 3}  # who may more
_HASHER = PasswordHasher()


class AuthError(TaggerError):
    """Base class of sign-in and permission errors (shown to the user as one line)."""


class InvalidCredentialsError(AuthError):
    """Wrong username or password (deliberately not saying which)."""


class RateLimitedError(AuthError):
    """Too many failed sign-ins for this username within the window."""


class PermissionDeniedError(AuthError):
    """The signed-in user's role does not allow the action."""


class InvalidUserError(AuthError, ValueError):
    """A username, password or role that cannot be used for a new account."""


class SessionInvalidError(AuthError):
    """No session token, or an unknown, revoked or expired one (HTTP 401: sign in again)."""


class AccountDisabledError(PermissionDeniedError):
    """A live session of a disabled account (HTTP 403: signing in again will not help)."""


class UnknownUserError(AuthError):
    """No account has that username."""


class LastAdminError(AuthError):
    """The change would leave no admin who can sign in (nobody could manage accounts from the
    dashboard any more; `tagger users add NAME --role admin` on the server still can)."""


@dataclass(frozen=True)
class CurrentUser:
    id: int
    username: str
    role: str
    languages: tuple[str, ...] = ()  # the spoken languages it reviews; empty: any
    single_sign_on: bool = False  # bound to an identity of the single sign-on provider

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_lead(self) -> bool:
        """Lead or admin: adjudicates overlap answers, reads agreement reports."""
        return self.role in (Role.LEAD, Role.ADMIN)


@dataclass(frozen=True)
class SessionToken:
    token: str  # give to the client; only its hash is stored
    user: CurrentUser
    expires_at: datetime


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so both failures take the same time."""
    return _HASHER.hash(secrets.token_hex(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _current(user: User) -> CurrentUser:
    return CurrentUser(
        id=user.id,
        username=user.username,
        role=user.role,
        languages=user_queries.languages_of(user),
        single_sign_on=user.sso_identity is not None,
    )


def create_user(
    db: Database,
    *,
    username: str,
    password: str,
    role: str = Role.MODERATOR,
    languages: Sequence[str] = (),
    external_id: str | None = None,
    created_by: Actor | None = None,
) -> CurrentUser:
    """Add an account (audited as ``user_added``), optionally with the spoken languages it
    reviews (see :func:`update_account`); raises :class:`InvalidUserError` for a bad
    name/password/role/language code and ``db.queries.DuplicateError`` for a taken name."""
    username = _checked_username(username)
    _check_password(password)
    _check_role(role)
    codes = _language_codes(languages)
    password_hash = hash_password(password)
    with db.session() as session:
        user = user_queries.create_user(
            session, username=username, password_hash=password_hash, role=role
        )
        if codes:
            user_queries.set_languages(session, user_id=user.id, languages=codes)
        detail = {"user_id": user.id, "username": username, "role": role, "languages": codes}
        if external_id:
            user_queries.update_user(session, user_id=user.id, external_id=external_id)
            detail["external_id"] = external_id
        audit_queries.add_audit(
            session, action=AuditAction.USER_ADDED, user=created_by, detail=detail
        )
        return _current(user)


def _checked_username(username: str) -> str:
    """``username`` without surrounding spaces; :class:`InvalidUserError` when it is no name."""
    username = username.strip()
    if not username or len(username) > MAX_USERNAME_LENGTH or any(c.isspace() for c in username):
        raise InvalidUserError(
            f"username must be 1-{MAX_USERNAME_LENGTH} characters without spaces"
        )
    return username


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidUserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


def _check_role(role: str) -> None:
    if role not in ROLE_RANK:
        raise InvalidUserError(f"unknown role {role!r}; expected one of {sorted(ROLE_RANK)}")


def _keep_an_admin(session: Session, user: User, *, change: str) -> None:
    """Raise :class:`LastAdminError` when ``user`` is the only admin who can sign in (the
    caller holds ``lock_accounts``, so two changes cannot both pass this check)."""
    if user.role != Role.ADMIN or user.disabled:
        return
    if user_queries.count_users(session, role=Role.ADMIN, disabled=False) <= 1:
        raise LastAdminError(
            f"cannot {change} {user.username!r}: it is the only admin who can sign in; "
            "make another account admin first"
        )


def update_account(
    db: Database,
    *,
    username: str,
    role: str | None = None,
    disabled: bool | None = None,
    languages: Sequence[str] | None = None,
    new_username: str | None = None,
    external_id: str | None = None,
    by: Actor | None = None,
) -> CurrentUser:
    """Change an account's name, role, status, review languages and the identity provider's id
    for it (None: leave it; ``external_id=""`` forgets it) in one unit of work, each real change
    audited: ``user_renamed`` (old and new name), ``role_changed`` (old and new role),
    ``user_disabled`` (the account is signed out everywhere), ``user_enabled`` (its old sessions
    stay ended), ``languages_set`` (old and new codes), ``external_id_set`` (old and new id).

    A new name keeps everything else: sessions, reviews, verdicts and tokens name the account
    by its id, its sign-in attempts move to the new name, the audit trail keeps each entry's
    name as it was (the ``user_renamed`` entry links them), and a bound single sign-on identity
    stays bound (an e-mail changed at the provider).

    A new role takes effect on the account's next page or request (roles are read from the
    database on each). Languages are codes as Whisper reports them (``de``; none: any); the
    queue then hands the account only videos in one of them or without a detected language or
    speech. Raises :class:`InvalidUserError` for a bad name, an unknown role or a bad language
    code (before anything changes), ``db.queries.DuplicateError`` for a name another account
    has, and :class:`LastAdminError` when the change would leave no admin who can sign in.
    """
    if role is not None:
        _check_role(role)
    codes = _language_codes(languages) if languages is not None else None
    name = _checked_username(new_username) if new_username is not None else None
    with db.session() as session:
        user_queries.lock_accounts(session)
        user = existing_user(session, username)
        _change(session, user, role=role, disabled=disabled, codes=codes, new_username=name, by=by)
        if external_id is not None and (external_id or None) != user.external_id:
            audit_queries.add_audit(
                session,
                action=AuditAction.EXTERNAL_ID_SET,
                user=by,
                detail={
                    "user_id": user.id,
                    "username": user.username,
                    "from": user.external_id,
                    "to": external_id or None,
                },
            )
            user_queries.update_user(session, user_id=user.id, external_id=external_id)
        return _current(user)


def set_roles(
    db: Database, roles: Mapping[str, str], *, by: Actor | None = None
) -> list[CurrentUser]:
    """Give several accounts (by name) their roles in one unit of work, all or none (e.g. an
    identity provider's change to a role group's members); audited and checked as
    :func:`update_account` does, so one change that would leave no admin refuses them all."""
    for role in roles.values():
        _check_role(role)
    with db.session() as session:
        user_queries.lock_accounts(session)
        users = [existing_user(session, username) for username in roles]
        for user in users:
            role = roles[user.username]
            _change(session, user, role=role, disabled=None, codes=None, new_username=None, by=by)
        return [_current(user) for user in users]


def _change(
    session: Session,
    user: User,
    *,
    role: str | None,
    disabled: bool | None,
    codes: tuple[str, ...] | None,
    new_username: str | None,
    by: Actor | None,
) -> None:
    """:func:`update_account`'s changes to one account, in the caller's unit of work (which
    holds ``lock_accounts``)."""
    new_role = role if role is not None else user.role
    new_disabled = disabled if disabled is not None else user.disabled
    if new_role != Role.ADMIN or new_disabled:
        change = "disable" if new_disabled and not user.disabled else f"make {new_role}"
        _keep_an_admin(session, user, change=change)
    if new_username is not None and new_username != user.username:
        rename_in(session, user, new_username, by=by)
    who = {"user_id": user.id, "username": user.username}
    if new_role != user.role:
        change_role_in(session, user, new_role, by=by)
    if codes is not None and codes != user_queries.languages_of(user):
        before_codes = user_queries.languages_of(user)
        user_queries.set_languages(session, user_id=user.id, languages=codes)
        audit_queries.add_audit(
            session,
            action=AuditAction.LANGUAGES_SET,
            user=by,
            detail={**who, "from": list(before_codes), "to": list(codes)},
        )
    if new_disabled != user.disabled:
        user_queries.update_user(session, user_id=user.id, disabled=new_disabled)
        action = AuditAction.USER_DISABLED if new_disabled else AuditAction.USER_ENABLED
        audit_queries.add_audit(session, action=action, user=by, detail=who)
    if new_disabled:
        user_queries.revoke_all_user_sessions(session, user_id=user.id)


def rename_in(
    session: Session, user: User, username: str, *, by: Actor | None, via: str | None = None
) -> None:
    """Give ``user`` another name in the caller's unit of work, audited as ``user_renamed``
    (``via``: what renamed it, when not a person, e.g. ``"sso"``). The caller has checked the
    name (:func:`update_account`)."""
    detail = {"user_id": user.id, "from": user.username, "to": username}
    user_queries.rename_user(session, user_id=user.id, username=username)
    audit_queries.add_audit(
        session,
        action=AuditAction.USER_RENAMED,
        user=by,
        detail=detail if via is None else {**detail, "via": via},
    )


def change_role_in(
    session: Session, user: User, role: str, *, by: Actor | None, via: str | None = None
) -> None:
    """Give ``user`` another role in the caller's unit of work, audited as ``role_changed``
    (``via`` as for :func:`rename_in`). The caller has checked the role and the last admin."""
    detail = {"user_id": user.id, "username": user.username, "from": user.role, "to": role}
    user_queries.update_user(session, user_id=user.id, role=role)
    audit_queries.add_audit(
        session,
        action=AuditAction.ROLE_CHANGED,
        user=by,
        detail=detail if via is None else {**detail, "via": via},
    )


def disable_user(db: Database, *, username: str, by: Actor | None = None) -> CurrentUser:
    """Disable an account and sign it out everywhere (:func:`update_account`)."""
    return update_account(db, username=username, disabled=True, by=by)


def enable_user(db: Database, *, username: str, by: Actor | None = None) -> CurrentUser:
    """Let a disabled account sign in again (:func:`update_account`)."""
    return update_account(db, username=username, disabled=False, by=by)


def set_role(db: Database, *, username: str, role: str, by: Actor | None = None) -> CurrentUser:
    """Give an account another role (:func:`update_account`)."""
    return update_account(db, username=username, role=role, by=by)


def rename_user(
    db: Database, *, username: str, new_username: str, by: Actor | None = None
) -> CurrentUser:
    """Give an account another name, keeping everything else (:func:`update_account`)."""
    return update_account(db, username=username, new_username=new_username, by=by)


def set_languages(
    db: Database, *, username: str, languages: Sequence[str], by: Actor | None = None
) -> tuple[str, ...]:
    """The spoken languages an account reviews (:func:`update_account`); the codes stored."""
    return update_account(db, username=username, languages=languages, by=by).languages


def _language_codes(languages: Sequence[str]) -> tuple[str, ...]:
    """Lowercased, sorted, without repeats; :class:`InvalidUserError` for a code that is not
    two or three letters (or is the no-speech marker)."""
    codes = sorted({code.strip().lower() for code in languages if code.strip()})
    bad = [code for code in codes if not _LANGUAGE_CODE.fullmatch(code) or code == NO_SPEECH]
    if bad:
        raise InvalidUserError(
            f"not a language code: {', '.join(bad)} (codes as Whisper reports them, such as de, "
            "ru or yue)"
        )
    return tuple(codes)


def reset_password(
    db: Database, *, username: str, password: str | None = None, by: Actor | None = None
) -> str:
    """Give an account a new password and sign it out everywhere; returns the password.

    Without ``password`` one is generated (for the caller to show once: it is stored only as
    a hash, and the audit row says whether it was generated, never what it is).
    """
    generated = password is None
    if password is None:
        password = generate_password()
    _check_password(password)
    password_hash = hash_password(password)
    with db.session() as session:
        user = existing_user(session, username)
        user_queries.update_user(session, user_id=user.id, password_hash=password_hash)
        user_queries.revoke_all_user_sessions(session, user_id=user.id)
        audit_queries.add_audit(
            session,
            action=AuditAction.PASSWORD_RESET,
            user=by,
            detail={"user_id": user.id, "username": user.username, "generated": generated},
        )
    return password


def generate_password() -> str:
    """A random password for a new or reset account, to show once."""
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


def change_password(
    db: Database,
    *,
    user: CurrentUser,
    current_password: str,
    new_password: str,
    keep_token: str | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> None:
    """An account changes its own password, proving it knows the current one; every other
    session of it ends (``keep_token``: the one making the change stays signed in). Audited as
    ``password_changed``.

    The current password is checked as a sign-in is (counted, rate-limited, a wrong one audited
    as ``login_failed``), so this form cannot be used to guess it faster. Raises
    :class:`InvalidCredentialsError`, :class:`RateLimitedError`, or :class:`InvalidUserError` for
    a new password that is too short or the same as the current one.
    """
    _check_password(new_password)
    if new_password == current_password:
        raise InvalidUserError("the new password is the same as the current one")
    now = now or utcnow()
    key, row = _verify_attempt(
        db, user.username, current_password, settings=settings or get_settings(), now=now
    )
    with db.session() as session:
        user_queries.record_login_attempt(session, username=key, success=True, created_at=now)
        user_queries.update_user(session, user_id=row.id, password_hash=hash_password(new_password))
        user_queries.revoke_all_user_sessions(
            session,
            user_id=row.id,
            except_token_hash=_token_hash(keep_token) if keep_token else None,
        )
        audit_queries.add_audit(
            session,
            action=AuditAction.PASSWORD_CHANGED,
            user=user,
            detail={"user_id": row.id, "username": row.username},
        )


def existing_user(session: Session, username: str) -> User:
    """The account named ``username``; raises :class:`UnknownUserError` when there is none."""
    user = user_queries.get_user_by_name(session, username=username)
    if user is None:
        raise UnknownUserError(f"no user {username!r}")
    return user


def _attempt_key(username: str, user: User | None) -> str:
    """What sign-in attempts are counted and audited under: an existing account's name, else a
    digest, so a password typed into the username box is never stored in clear."""
    if user is not None:
        return user.username
    return "unknown:" + hashlib.sha256(username.encode("utf-8")).hexdigest()[:16]


def authenticate(
    db: Database,
    username: str,
    password: str,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> SessionToken:
    """Check a password and open a session.

    Raises :class:`RateLimitedError` after ``login_max_failures`` failures within
    ``login_window_seconds`` (counted per username, reset by a success), and
    :class:`InvalidCredentialsError` for an unknown user, a wrong password or a disabled account
    (:func:`_verify_attempt`); a success is recorded with the new session, which ends the failure
    run.
    """
    settings = settings or get_settings()
    now = now or utcnow()
    key, user = _verify_attempt(db, username.strip(), password, settings=settings, now=now)
    with db.session() as session:
        user_queries.record_login_attempt(session, username=key, success=True, created_at=now)
        if _HASHER.check_needs_rehash(user.password_hash):
            user_queries.update_user(
                session, user_id=user.id, password_hash=hash_password(password)
            )
        return open_session(session, user, settings=settings, now=now)


def open_session(
    session: Session,
    user: User,
    *,
    settings: Settings,
    now: datetime,
    detail: dict[str, str] | None = None,
    sso_session: str | None = None,
    sso_id_token: str | None = None,
) -> SessionToken:
    """A new dashboard session for ``user`` in the caller's unit of work, audited as ``login``
    (``detail``: how, for a sign-in other than the password's; ``sso_session`` and
    ``sso_id_token``: the provider's session and ID token behind a single sign-on)."""
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=settings.session_hours)
    user_queries.create_user_session(
        session,
        token_hash=_token_hash(token),
        user_id=user.id,
        expires_at=expires_at,
        sso_session=sso_session,
        sso_id_token=sso_id_token,
    )
    audit_queries.add_audit(session, action=AuditAction.LOGIN, user=user, detail=detail)
    return SessionToken(token=token, user=_current(user), expires_at=expires_at)


def _verify_attempt(
    db: Database, username: str, password: str, *, settings: Settings, now: datetime
) -> tuple[str, User]:
    """One counted password check: ``(attempt key, user)`` when it is right, for the caller to
    record the success in its own unit of work (which ends the failure run).

    Each attempt counts as a failure before the slow hash check, so parallel guesses see each
    other. Raises :class:`RateLimitedError` and :class:`InvalidCredentialsError` (audited as
    ``login_failed``) for an unknown user, a wrong password or a disabled account.
    """
    with db.session() as session:
        user = user_queries.get_user_by_name(session, username=username)
        key = _attempt_key(username, user)
        user_queries.lock_login_attempts(session, username=key)
        failures = user_queries.count_failed_logins(
            session, username=key, since=now - timedelta(seconds=settings.login_window_seconds)
        )
        if failures >= settings.login_max_failures:
            raise RateLimitedError(
                "too many failed sign-ins for this username; "
                f"try again in {settings.login_window_seconds} s"
            )
        user_queries.record_login_attempt(session, username=key, success=False, created_at=now)
    # the slow hash check runs outside the database lock
    right = verify_password(user.password_hash if user else _dummy_hash(), password)
    if user is None or not right or user.disabled:
        with db.session() as session:
            audit_queries.add_audit(session, action=AuditAction.LOGIN_FAILED, username=key)
        raise InvalidCredentialsError("invalid username or password")
    return key, user


def user_for_token(
    session: Session, *, token: str | None, now: datetime | None = None
) -> CurrentUser:
    """The user behind a token, with the role as stored now, read in the caller's unit of work
    (so a request can check its session and read what it serves in one).

    Raises :class:`SessionInvalidError` for a missing, unknown, revoked or expired token and
    :class:`AccountDisabledError` when the account is disabled (or gone).
    """
    if not token:
        raise SessionInvalidError("not signed in")
    now = now or utcnow()
    row = user_queries.get_user_session(session, token_hash=_token_hash(token))
    if row is None or row.revoked or row.expires_at <= now:
        raise SessionInvalidError("the session has expired or was ended")
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        raise AccountDisabledError("this account is disabled")
    return _current(user)


def resolve_in(
    session: Session, token: str | None, *, now: datetime | None = None
) -> CurrentUser | None:
    """The user behind a token, read in the caller's unit of work, or None if missing, unknown,
    revoked, expired, or the account is disabled (callers that must tell these apart use
    :func:`user_for_token`)."""
    try:
        return user_for_token(session, token=token, now=now)
    except (SessionInvalidError, AccountDisabledError):
        return None


def resolve_session(db: Database, token: str, *, now: datetime | None = None) -> CurrentUser | None:
    """:func:`resolve_in` in a unit of work of its own."""
    with db.session() as session:
        return resolve_in(session, token, now=now)


def end_other_sessions(db: Database, *, user: CurrentUser, keep_token: str | None) -> int:
    """Sign the account out everywhere but the session ``keep_token`` (a lost laptop, a shared
    machine); returns how many sessions ended. Audited as ``sessions_ended``."""
    now = utcnow()
    keep = _token_hash(keep_token) if keep_token else None
    with db.session() as session:
        ended = user_queries.count_live_sessions(
            session, user_id=user.id, now=now, except_token_hash=keep
        )
        user_queries.revoke_all_user_sessions(session, user_id=user.id, except_token_hash=keep)
        audit_queries.add_audit(
            session, action=AuditAction.SESSIONS_ENDED, user=user, detail={"sessions": ended}
        )
    return ended


def logout(db: Database, token: str, *, now: datetime | None = None) -> str | None:
    """End the session ``token``, audited as ``logout`` (nothing for one already ended).
    Returns the provider's ID token kept for a single sign-on session, with which the sign-out
    ends the provider's session too (``oidc_provider_signout``, core/sso.py), else None."""
    now = now or utcnow()
    with db.session() as session:
        row = user_queries.get_user_session(session, token_hash=_token_hash(token))
        if row is None or row.revoked or row.expires_at <= now:
            return None
        user_queries.revoke_user_sessions(session, token_hashes=[row.token_hash])
        audit_queries.add_audit(
            session, action=AuditAction.LOGOUT, user=session.get(User, row.user_id)
        )
        return row.sso_id_token


def require_role(user: CurrentUser | None, role: str) -> CurrentUser:
    """The user if their role is at least ``role`` (admin includes lead includes moderator),
    else raise."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLE_RANK)}")
    if user is None:
        raise PermissionDeniedError("sign in first")
    if ROLE_RANK.get(user.role, 0) < ROLE_RANK[role]:
        raise PermissionDeniedError(f"this needs the {role} role; {user.username} is {user.role}")
    return user
