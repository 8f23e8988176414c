"""HTTP API tokens: stored by sha256 of the secret; generating and checking live in core.tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from db.queries import DuplicateError, NotFoundError
from db.tables import ApiToken, TokenScope, utcnow

_SCOPES = {scope.value for scope in TokenScope}


def create_token(
    session: Session, *, name: str, user_id: int, scope: str, token_hash: str, prefix: str
) -> ApiToken:
    if scope not in _SCOPES:
        raise ValueError(f"unknown token scope {scope!r}; expected one of {sorted(_SCOPES)}")
    if get_token_by_name(session, name=name) is not None:
        raise DuplicateError(f"a token named {name!r} already exists")
    token = ApiToken(
        name=name, user_id=user_id, scope=str(scope), token_hash=token_hash, prefix=prefix
    )
    session.add(token)
    session.flush()
    return token


def get_token_by_name(session: Session, *, name: str) -> ApiToken | None:
    return session.exec(select(ApiToken).where(ApiToken.name == name)).first()


def get_token_by_hash(session: Session, *, token_hash: str) -> ApiToken | None:
    return session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash)).first()


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, revoked ones included (the listing shows when they were revoked)."""
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.name))))


def revoke_token(session: Session, *, name: str) -> ApiToken:
    """Revoke the named token (idempotent: an already revoked one keeps its first date)."""
    token = get_token_by_name(session, name=name)
    if token is None:
        raise NotFoundError(f"no token named {name!r}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        session.flush()
    return token


def touch_token(session: Session, *, token_id: int, at: datetime | None = None) -> None:
    """Record that the token was used (called at most once per cache period, not per request)."""
    session.exec(
        update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=at or utcnow())
    )
