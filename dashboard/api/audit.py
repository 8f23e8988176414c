"""``/v1/audit``: the audit log as a feed for the platform's security tooling (admin scope)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from core import audit_feed
from dashboard.api.access import Admin
from dashboard.api.context import ApiContext, context
from dashboard.api.schemas import AuditEntryOut, AuditPageOut, Problem

router = APIRouter(tags=["audit"])
Ctx = Annotated[ApiContext, Depends(context)]
_ERRORS = {
    401: {"model": Problem},
    403: {"model": Problem},
    422: {"model": Problem},
    429: {"model": Problem},
}


@router.get("/audit", response_model=AuditPageOut, responses=_ERRORS)
def read_audit(
    ctx: Ctx,
    user: Admin,
    after: Annotated[
        int, Query(ge=0, description="The last id already read (0: from the start).")
    ] = 0,
    action: Annotated[
        list[str] | None, Query(description="Only these actions (repeatable).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=audit_feed.MAX_PAGE)] = 500,
) -> AuditPageOut:
    """Every audited action after the cursor, oldest first: sign-ins and refusals, account and
    role changes, tokens, reviews and label changes, lead verdicts, models going live, removals.
    Poll with ``after=next_after``: nothing is missed or repeated. On PostgreSQL entries show
    once they are ``TAGGER_AUDIT_FEED_DELAY_S`` old (30 s by default)."""
    page = audit_feed.read_page(
        ctx.db, settings=ctx.settings, after=after, actions=action or (), limit=limit
    )
    return AuditPageOut(
        entries=[AuditEntryOut(**asdict(entry)) for entry in page.entries],
        next_after=page.next_after,
    )
