"""Users, sign-in sessions (hashed tokens) and login attempts (rate limiting).

Password hashing lives in ``core.auth``; these functions only store what they are given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, text, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from db.queries import DuplicateError, NotFoundError
from db.tables import NO_SPEECH, LoginAttempt, Role, User, UserSession, Video, utcnow

_ROLES = {role.value for role in Role}


def _check_role(role: str) -> str:
    if role not in _ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {sorted(_ROLES)}")
    return str(role)


def create_user(
    session: Session, *, username: str, password_hash: str, role: str = Role.MODERATOR
) -> User:
    if get_user_by_name(session, username=username) is not None:
        raise DuplicateError(f"user {username!r} already exists")
    user = User(username=username, password_hash=password_hash, role=_check_role(role))
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    return user


def get_user_by_name(session: Session, *, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def get_user_by_sso_identity(session: Session, *, identity: str) -> User | None:
    """The account bound to a single sign-on identity (``"<issuer> <subject>"``), if any."""
    return session.exec(select(User).where(User.sso_identity == identity)).first()


def bind_sso_identity(session: Session, *, user_id: int, identity: str | None) -> User:
    """Bind the account to a single sign-on identity, or (None) forget the one bound."""
    user = get_user(session, user_id=user_id)
    user.sso_identity = identity
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.username))))


def count_users(session: Session, *, role: str | None = None, disabled: bool | None = None) -> int:
    query = select(func.count()).select_from(User)
    if role is not None:
        query = query.where(User.role == _check_role(role))
    if disabled is not None:
        query = query.where(col(User.disabled) == disabled)
    return session.exec(query).one()


def lock_accounts(session: Session) -> None:
    """Serialise role and status changes until this transaction ends (PostgreSQL), so two admins
    demoting each other at once cannot both pass the last-admin check. DuckDB needs nothing: the
    tagger's file lock already serialises units of work."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('tagger-accounts'))"))


@dataclass(frozen=True)
class Account:
    """An account as the Accounts page, the API and `tagger users list` show it."""

    id: int
    username: str
    role: str
    disabled: bool
    created_at: datetime
    last_sign_in_at: datetime | None
    languages: tuple[str, ...]  # the spoken languages it reviews; empty: any
    single_sign_on: bool  # bound to an identity of the single sign-on provider
    external_id: str | None  # the identity provider's id for the person (SCIM externalId)


def list_accounts(session: Session, *, username: str | None = None) -> list[Account]:
    """Every account by name (or the one named ``username``: none when it does not exist),
    with its latest sign-in."""
    signed_in = last_sign_ins(session)
    if username is None:
        found = list_users(session)
    else:
        found = [get_user_by_name(session, username=username)]
    return [
        Account(
            id=u.id,
            username=u.username,
            role=u.role,
            disabled=u.disabled,
            created_at=u.created_at,
            last_sign_in_at=signed_in.get(u.username),
            languages=languages_of(u),
            single_sign_on=u.sso_identity is not None,
            external_id=u.external_id,
        )
        for u in found
        if u is not None
    ]


def last_sign_ins(session: Session) -> dict[str, datetime]:
    """Each account's latest successful sign-in, by username (accounts never signed in are
    left out)."""
    rows = session.exec(
        select(LoginAttempt.username, func.max(LoginAttempt.created_at))
        .where(col(LoginAttempt.success))
        .group_by(LoginAttempt.username)
    )
    return {username: at for username, at in rows}


def update_user(
    session: Session,
    *,
    user_id: int,
    role: str | None = None,
    disabled: bool | None = None,
    password_hash: str | None = None,
    external_id: str | None = None,
) -> User:
    """Set the fields given (None: leave it; ``external_id=""`` forgets it)."""
    user = get_user(session, user_id=user_id)
    if role is not None:
        user.role = _check_role(role)
    if disabled is not None:
        user.disabled = disabled
    if password_hash is not None:
        user.password_hash = password_hash
    if external_id is not None:
        user.external_id = external_id or None
    session.add(user)
    session.flush()
    return user


def rename_user(session: Session, *, user_id: int, username: str) -> User:
    """Give the account another name; its sign-in attempts (counted by name) move with it."""
    taken = get_user_by_name(session, username=username)
    if taken is not None and taken.id != user_id:
        raise DuplicateError(f"user {username!r} already exists")
    user = get_user(session, user_id=user_id)
    session.execute(
        update(LoginAttempt)
        .where(col(LoginAttempt.username) == user.username)
        .values(username=username)
    )
    user.username = username
    session.add(user)
    session.flush()
    return user


def set_languages(session: Session, *, user_id: int, languages: Sequence[str]) -> User:
    """Store the spoken languages the account reviews (none: any)."""
    user = get_user(session, user_id=user_id)
    user.languages = ",".join(sorted(set(languages))) or None
    session.add(user)
    session.flush()
    return user


def languages_of(user: User) -> tuple[str, ...]:
    """The account's review languages, as stored by :func:`set_languages` (empty: any)."""
    return tuple(user.languages.split(",")) if user.languages else ()


def language_route(session: Session, *, user_id: int) -> list[ColumnElement[bool]]:
    """The conditions that keep the queue to the videos the account can judge: in one of its
    languages, or with no language detected (nobody knows it) or no speech (anyone can judge
    it); none when the account reviews any language."""
    user = session.get(User, user_id)
    languages = languages_of(user) if user is not None else ()
    if not languages:
        return []
    spoken = col(Video.spoken_language)
    return [or_(spoken.is_(None), spoken.in_([*languages, NO_SPEECH]))]


# --- sign-in sessions ---------------------------------------------------------------------------


def create_user_session(
    session: Session,
    *,
    token_hash: str,
    user_id: int,
    expires_at: datetime,
    sso_session: str | None = None,
    sso_id_token: str | None = None,
) -> UserSession:
    row = UserSession(
        token_hash=token_hash,
        user_id=user_id,
        expires_at=expires_at,
        sso_session=sso_session,
        sso_id_token=sso_id_token,
    )
    session.add(row)
    session.flush()
    return row


def get_user_session(session: Session, *, token_hash: str) -> UserSession | None:
    return session.get(UserSession, token_hash)


def _live(now: datetime) -> list[ColumnElement[bool]]:
    """A session neither ended nor expired at ``now``."""
    return [~col(UserSession.revoked), col(UserSession.expires_at) > now]


def live_provider_sessions(
    session: Session, *, now: datetime, sso_session: str | None, user_id: int | None
) -> list[UserSession]:
    """The live sessions a provider's logout names: those of its session ``sso_session``, of
    the account ``user_id``, or (both given) of that session and account."""
    query = select(UserSession).where(*_live(now))
    if sso_session is not None:
        query = query.where(col(UserSession.sso_session) == sso_session)
    if user_id is not None:
        query = query.where(col(UserSession.user_id) == user_id)
    return list(session.exec(query))


def revoke_user_sessions(session: Session, *, token_hashes: Sequence[str]) -> None:
    if token_hashes:
        session.exec(
            update(UserSession)
            .where(col(UserSession.token_hash).in_(token_hashes))
            .values(revoked=True)
        )


def count_live_sessions(
    session: Session, *, user_id: int, now: datetime, except_token_hash: str | None = None
) -> int:
    """The account's sessions that are neither ended nor expired (but ``except_token_hash``)."""
    query = (
        select(func.count())
        .select_from(UserSession)
        .where(col(UserSession.user_id) == user_id, *_live(now))
    )
    if except_token_hash is not None:
        query = query.where(col(UserSession.token_hash) != except_token_hash)
    return session.exec(query).one()


def revoke_all_user_sessions(
    session: Session, *, user_id: int, except_token_hash: str | None = None
) -> None:
    """Sign the account out everywhere, or everywhere but the session ``except_token_hash``
    (the one that changed its own password)."""
    query = update(UserSession).where(col(UserSession.user_id) == user_id)
    if except_token_hash is not None:
        query = query.where(col(UserSession.token_hash) != except_token_hash)
    session.exec(query.values(revoked=True))


# --- login attempts -----------------------------------------------------------------------------


def lock_login_attempts(session: Session, *, username: str) -> None:
    """Serialise sign-in attempts for ``username`` until this transaction ends (PostgreSQL).

    Without it, parallel guesses all read the failure count before any records its failure.
    DuckDB needs nothing here: the tagger's file lock already serialises units of work.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:username))"), {"username": username}
        )


def record_login_attempt(
    session: Session, *, username: str, success: bool, created_at: datetime | None = None
) -> None:
    session.add(LoginAttempt(username=username, success=success, created_at=created_at or utcnow()))
    session.flush()


def count_failed_logins(session: Session, *, username: str, since: datetime) -> int:
    """Failures for ``username`` after ``since`` and after its last successful sign-in."""
    last_success = session.exec(
        select(func.max(LoginAttempt.created_at)).where(
            LoginAttempt.username == username, col(LoginAttempt.success)
        )
    ).one()
    start = max(since, last_success) if last_success is not None else since
    query = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.username == username,
            ~col(LoginAttempt.success),
            col(LoginAttempt.created_at) > start,
        )
    )
    return session.exec(query).one()
