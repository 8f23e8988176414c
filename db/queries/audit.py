"""Append-only audit trail. There is deliberately no update or delete function."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from db.queries import Actor, dump_json
from db.tables import AuditLog


def add_audit(
    session: Session,
    *,
    action: str,
    user: Actor | None = None,
    video_id: int | None = None,
    node_id: str | None = None,
    detail: dict[str, Any] | None = None,
    username: str | None = None,
) -> AuditLog:
    """Record one action; ``username`` names an actor that has no user row (e.g. a failed login)."""
    entry = AuditLog(
        user_id=user.id if user is not None else None,
        username=user.username if user is not None else username,
        action=str(action),
        video_id=video_id,
        node_id=node_id,
        detail_json=dump_json(detail or {}),
    )
    session.add(entry)
    session.flush()
    return entry


def add_video_audits(
    session: Session, *, action: str, details: dict[int, dict[str, Any]], at: datetime
) -> None:
    """Record one action on many videos by nobody in particular (a rule), ``{video id:
    detail}``, in one statement: one :func:`add_audit` per video took ~11 ms on DuckDB."""
    if details:
        session.execute(
            insert(AuditLog),
            [
                {
                    "created_at": at,
                    "action": str(action),
                    "video_id": video_id,
                    "detail_json": dump_json(detail),
                }
                for video_id, detail in details.items()
            ],
        )


def list_audit(
    session: Session,
    *,
    video_id: int | None = None,
    action: str | None = None,
    user_id: int | None = None,
    limit: int = 100,
) -> list[AuditLog]:
    """Newest first."""
    query = select(AuditLog)
    if video_id is not None:
        query = query.where(AuditLog.video_id == video_id)
    if action is not None:
        query = query.where(AuditLog.action == str(action))
    if user_id is not None:
        query = query.where(AuditLog.user_id == user_id)
    query = query.order_by(col(AuditLog.id).desc()).limit(limit)
    return list(session.exec(query))


def audit_after(
    session: Session,
    *,
    after: int,
    written_before: datetime | None = None,
    actions: Sequence[str] = (),
    limit: int,
) -> list[AuditLog]:
    """Entries with an id above ``after``, oldest first (a feed's next page): those written
    before ``written_before`` only, of ``actions`` only when given."""
    query = select(AuditLog).where(col(AuditLog.id) > after)
    if written_before is not None:
        query = query.where(col(AuditLog.created_at) < written_before)
    if actions:
        query = query.where(col(AuditLog.action).in_([str(a) for a in actions]))
    return list(session.exec(query.order_by(col(AuditLog.id)).limit(limit)))
