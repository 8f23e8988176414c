"""The audit log as a feed a security team's collector (a SIEM: Splunk, Sentinel, Elastic) pulls
page by page: entries oldest first after a cursor, the last id returned being the next cursor,
so polling misses nothing and repeats nothing (``GET /api/v1/audit``, ``tagger audit``).

On PostgreSQL an entry's id is drawn when it is written, not when its transaction commits: a
unit of work that took id 9 can commit after another's id 10 was read, and a cursor already at
10 would skip 9 for ever. So there the feed shows only entries written ``audit_feed_delay_s``
ago or more, longer than a unit of work lasts. On DuckDB units of work run one at a time (the
file lock), ids commit in order, and the feed shows everything committed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from core.config import Settings
from core.errors import TaggerError
from db.engine import Database
from db.queries import audit as audit_q
from db.queries import taxonomy as taxonomy_q
from db.tables import AuditAction, AuditLog, utcnow

MAX_PAGE = 1000
ACTIONS = frozenset(action.value for action in AuditAction)


class AuditFeedError(TaggerError, ValueError):
    """A page asked for with an unknown action or a page size out of range."""


@dataclass(frozen=True)
class FeedEntry:
    id: int
    at: datetime
    action: str
    account: str | None  # None: a command-line run or an import
    video_id: int | None
    tag: str | None  # the tag's path, for a label change
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedPage:
    entries: list[FeedEntry]
    next_after: int  # the cursor of the next page: the last entry's id, else the one given


def read_page(
    db: Database,
    *,
    settings: Settings,
    after: int = 0,
    actions: Sequence[str] = (),
    limit: int = MAX_PAGE,
    now: datetime | None = None,
) -> FeedPage:
    """The entries after id ``after`` (at most ``limit``, of ``actions`` when given)."""
    unknown = sorted(set(actions) - ACTIONS)
    if unknown:
        raise AuditFeedError(f"unknown audit action(s) {unknown}; known: {sorted(ACTIONS)}")
    if not 1 <= limit <= MAX_PAGE:
        raise AuditFeedError(f"a page holds 1 to {MAX_PAGE} entries, not {limit}")
    written_before = None
    if not db.is_duckdb:
        written_before = (now or utcnow()) - timedelta(seconds=settings.audit_feed_delay_s)
    with db.session() as session:
        rows = audit_q.audit_after(
            session, after=after, written_before=written_before, actions=actions, limit=limit
        )
        entries = feed_entries(session, rows)
    return FeedPage(entries, entries[-1].id if entries else after)


def feed_entries(session: Session, rows: Sequence[AuditLog]) -> list[FeedEntry]:
    """Audit rows as readers see them: tags by path, details parsed (the feed, a video's
    history)."""
    paths = taxonomy_q.node_paths(
        session, node_ids=sorted({row.node_id for row in rows if row.node_id is not None})
    )
    return [
        FeedEntry(
            id=row.id,
            at=row.created_at,
            action=row.action,
            account=row.username,
            video_id=row.video_id,
            tag=paths.get(row.node_id, row.node_id) if row.node_id is not None else None,
            detail=json.loads(row.detail_json or "{}"),
        )
        for row in rows
    ]
