"""HTTP API tokens: issue, check (with a short cache), revoke, and a per-token rate limit.

A token belongs to an account and carries a scope (``read`` < ``write`` < ``admin``) that the
account's role caps: a moderator's or lead's token can read and write, only an admin's can be
``admin``.
The secret is shown once; only its sha256 is stored. A checked token is trusted for
``Settings.api_token_cache_s`` seconds (one database read per token per period instead of one
per request, which matters on DuckDB where every unit of work opens the file): a revocation or a
disabled account takes effect within that period. A token's last use is recorded at most every
:data:`USE_RECORDED_EVERY` (a write: on DuckDB each one makes every poller that keeps its answers
while the database is unwritten read again, so a monitoring token scraping every 15 s kept the
idle server's caches cold).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from core.auth import AuthError
from db.engine import Database
from db.queries import Actor
from db.queries import audit as audit_q
from db.queries import tokens as tokens_q
from db.queries import users as users_q
from db.tables import ApiToken, AuditAction, Role, TokenScope, User, utcnow

TOKEN_PREFIX = "tgr_"
_SCOPE_RANK = {TokenScope.READ.value: 1, TokenScope.WRITE.value: 2, TokenScope.ADMIN.value: 3}
_ROLE_MAX_SCOPE = {
    Role.MODERATOR.value: TokenScope.WRITE.value,
    Role.LEAD.value: TokenScope.WRITE.value,  # a lead reviews as a moderator does, and more
    Role.ADMIN.value: TokenScope.ADMIN.value,
}
MAX_NAME_LENGTH = 64
USE_RECORDED_EVERY = timedelta(minutes=5)  # "last used" is shown to the minute, for stale tokens


class TokenError(AuthError):
    """A token that cannot be created (bad name, unknown account, scope above its role)."""


@dataclass(frozen=True)
class TokenPrincipal:
    """Who calls the API: the token's account (an :class:`~db.queries.Actor`) and its scope."""

    token_id: int
    token_name: str
    id: int  # the account's user id (audit rows and labels name the account)
    username: str
    scope: str


@dataclass(frozen=True)
class IssuedToken:
    secret: str  # give to the client once; never stored
    token: ApiToken


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def scope_allows(scope: str, needed: str) -> bool:
    return _SCOPE_RANK.get(scope, 0) >= _SCOPE_RANK[needed]


def create_token(
    db: Database, *, name: str, username: str, scope: str, created_by: Actor | None = None
) -> IssuedToken:
    """A new token for ``username``'s account (audited); raises :class:`TokenError` for a bad
    name, an unknown or disabled account, or a scope above the account's role."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or any(c.isspace() for c in name):
        raise TokenError(f"token name must be 1-{MAX_NAME_LENGTH} characters without spaces")
    if scope not in _SCOPE_RANK:
        raise TokenError(f"unknown scope {scope!r}; expected one of {sorted(_SCOPE_RANK)}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        user = users_q.get_user_by_name(session, username=username)
        if user is None or user.disabled:
            raise TokenError(f"no active account {username!r}")
        ceiling = _ROLE_MAX_SCOPE.get(user.role, TokenScope.READ.value)
        if not scope_allows(ceiling, scope):
            raise TokenError(
                f"{username!r} is a {user.role}; its tokens can have at most the {ceiling} scope"
            )
        token = tokens_q.create_token(
            session,
            name=name,
            user_id=user.id,
            scope=scope,
            token_hash=hash_secret(secret),
            prefix=secret[: len(TOKEN_PREFIX) + 4],
        )
        audit_q.add_audit(
            session,
            action=AuditAction.TOKEN_CREATED,
            user=created_by,
            detail={"token": name, "account": username, "scope": scope},
        )
    return IssuedToken(secret=secret, token=token)


def revoke_token(db: Database, *, name: str, revoked_by: Actor | None = None) -> ApiToken:
    """Revoke by name (audited); raises ``db.queries.NotFoundError`` for an unknown name."""
    with db.session() as session:
        token = tokens_q.revoke_token(session, name=name)
        audit_q.add_audit(
            session, action=AuditAction.TOKEN_REVOKED, user=revoked_by, detail={"token": name}
        )
    _CACHE.forget(token.token_hash)
    return token


class _PrincipalCache:
    """token hash -> (principal or None, when it was read); thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[TokenPrincipal | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, ttl: float) -> tuple[bool, TokenPrincipal | None]:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[1] >= ttl:
            return False, None
        return True, entry[0]

    def put(self, key: str, principal: TokenPrincipal | None) -> None:
        with self._lock:
            if len(self._entries) > 10_000:  # unknown secrets must not grow it without bound
                self._entries.clear()
            self._entries[key] = (principal, time.monotonic())

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


_CACHE = _PrincipalCache()


def resolve_token(db: Database, secret: str, *, cache_s: float) -> TokenPrincipal | None:
    """The caller behind a bearer secret; None if unknown, revoked, or the account is disabled."""
    if not secret:
        return None
    key = hash_secret(secret)
    hit, principal = _CACHE.get(key, cache_s)
    if hit:
        return principal
    with db.session() as session:
        token = tokens_q.get_token_by_hash(session, token_hash=key)
        user = session.get(User, token.user_id) if token is not None else None
        principal = None
        if (
            token is not None
            and token.revoked_at is None
            and user is not None
            and not user.disabled
        ):
            # the scope never exceeds what the account's role allows NOW (a demoted admin)
            ceiling = _ROLE_MAX_SCOPE.get(user.role, TokenScope.READ.value)
            scope = token.scope if scope_allows(ceiling, token.scope) else ceiling
            principal = TokenPrincipal(
                token_id=token.id,
                token_name=token.name,
                id=user.id,
                username=user.username,
                scope=scope,
            )
            now = utcnow()
            if token.last_used_at is None or now - token.last_used_at >= USE_RECORDED_EVERY:
                tokens_q.touch_token(session, token_id=token.id, at=now)
    _CACHE.put(key, principal)
    return principal


class RateLimiter:
    """Token bucket per key: ``per_minute`` requests a minute, bursts up to ``per_minute``."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[object, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: object) -> float:
        """0 when the request may go ahead, else the seconds to wait before retrying."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
