"""The uncached reads of the dashboard's pages, one short unit of work each.

Pages call these instead of opening sessions themselves (writes go through ``actions``, cached
aggregates through ``cache``). What they return must be current: the queue, the failures, the
audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard import state
from db.engine import Database
from db.queries import audit, review, tokens, users, videos, webhooks
from db.queries.review import QueueFilters, QueuePage
from db.tables import ApiToken, AuditLog, Role, VideoStatus, WebhookDelivery, WebhookSubscriber


def queue_page(db: Database, *, filters: QueueFilters, page: int, page_size: int) -> QueuePage:
    """One page of the queue; the first page when ``page`` is past the end (the filters changed
    under a later page)."""
    with db.session() as session:
        result = review.list_queue(session, filters=filters, page=page, page_size=page_size)
        if not result.rows and page > 1:
            result = review.list_queue(session, filters=filters, page=1, page_size=page_size)
    return result


def failed_videos(db: Database, *, limit: int) -> QueuePage:
    """The newest videos whose processing failed, each with its stored reason."""
    filters = QueueFilters(statuses=(VideoStatus.FAILED.value,), sort="newest")
    with db.session() as session:
        return review.list_queue(session, filters=filters, page_size=limit)


def audit_entries(
    db: Database,
    *,
    action: str | None,
    limit: int,
    user_id: int | None = None,
    video_id: int | None = None,
) -> list[AuditLog]:
    """Newest first, optionally one action, account or video; admins only
    (``PermissionDeniedError`` otherwise, checked afresh)."""
    state.require(db, Role.ADMIN)
    with db.session() as session:
        return audit.list_audit(
            session, action=action, user_id=user_id, video_id=video_id, limit=limit
        )


@dataclass(frozen=True)
class ApiAccess:
    """What the API access page lists: active accounts (id -> name), tokens, webhooks, log."""

    accounts: dict[int, str]
    tokens: list[ApiToken]
    subscribers: list[WebhookSubscriber]
    deliveries: list[WebhookDelivery]


@dataclass(frozen=True)
class Accounts:
    people: list[users.Account]
    spoken_languages: list[str]  # the languages detected in videos so far, for choosing from


def accounts(db: Database) -> Accounts:
    """Every account with its latest sign-in, by name, and the spoken languages detected in
    videos; admins only (checked afresh)."""
    state.require(db, Role.ADMIN)
    with db.session() as session:
        return Accounts(
            people=users.list_accounts(session),
            spoken_languages=videos.spoken_languages(session),
        )


def api_access(db: Database, *, log_rows: int) -> ApiAccess:
    """Admins only (``PermissionDeniedError`` otherwise, checked afresh)."""
    state.require(db, Role.ADMIN)
    with db.session() as session:
        return ApiAccess(
            accounts={u.id: u.username for u in users.list_users(session) if not u.disabled},
            tokens=tokens.list_tokens(session),
            subscribers=webhooks.list_subscribers(session),
            deliveries=webhooks.list_deliveries(session, limit=log_rows),
        )
