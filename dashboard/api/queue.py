"""``/v1/queue``: the review queue for a platform's own reviewing tool. A claim takes the next
video in the dashboard's order (urgent, then high priority; then "most informative first": the
videos whose labels teach the model most, core/lifecycle/review_order.py) under the same rules
as its "Review next" (``core.review.claim_next``: a claim the token's account already holds
first, a video a lead returned to it, never one another reviewer holds, overlap videos blind);
the labels are then written with ``PUT /v1/videos/{id}/labels``, which ends the claim."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from core import review as review_rules
from core import taxonomy
from dashboard.api.access import Admin, Reader, Writer
from dashboard.api.context import ApiContext, context
from dashboard.api.errors import problem
from dashboard.api.schemas import Problem, QueueClaim, ReviewTargetsIn, ReviewTargetsOut
from dashboard.api.videos import etag, video_out
from db.queries import review as review_q
from db.queries.review import QueueFilters
from db.tables import ReviewPriority

router = APIRouter(prefix="/queue", tags=["queue"])
Ctx = Annotated[ApiContext, Depends(context)]
_ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 429: {"model": Problem}}
MAX_EXCLUDED = 1000


@router.post(
    "/claims",
    response_model=QueueClaim,
    responses={
        204: {"description": "Nothing is left to review (under the filters given)."},
        422: {"model": Problem},
        **_ERRORS,
    },
)
def claim_next(
    ctx: Ctx,
    user: Writer,
    response: Response,
    tag: Annotated[
        str | None,
        Query(max_length=500, description="A tag path or id: only videos with it or narrower."),
    ] = None,
    exclude: Annotated[
        list[int] | None,
        Query(
            max_length=MAX_EXCLUDED,
            description="Videos not to be given (repeatable): those the reviewer passed on in "
            "this sitting, which are still first in the queue's order.",
        ),
    ] = None,
    prioritized_only: Annotated[
        bool,
        Query(description="Only high and urgent videos (a desk for reported videos)."),
    ] = False,
) -> QueueClaim | Response:
    """Claim the next video to review for the token's account; its ETag is the label version to
    send as If-Match."""
    with ctx.db.session() as session:
        node_id = taxonomy.resolve_tags(session, [tag])[0] if tag else None
        video = review_rules.claim_next(
            session,
            user=user,
            filters=QueueFilters(tag=node_id, prioritized_only=prioritized_only),
            claim_minutes=ctx.settings.claim_minutes,
            exclude_ids=exclude or (),
        )
        if video is None:
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        claimed = QueueClaim(
            video=video_out(session, video_id=video.id, with_tree=False),
            claim_expires_at=video.claim_expires_at,
        )
    response.headers["ETag"] = etag(claimed.video.version)
    return claimed


@router.delete(
    "/claims/{video_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}, **_ERRORS},
)
def release_claim(ctx: Ctx, user: Writer, video_id: int) -> Response:
    """Pass the video on unreviewed (recorded as a skip): the queue gives it to the next."""
    with ctx.db.session() as session:
        released = review_rules.release_claim(session, video_id=video_id, user=user, skipped=True)
    if not released:
        return problem(404, f"you hold no claim on video {video_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/review-targets", response_model=ReviewTargetsOut, responses=_ERRORS)
def get_review_targets(ctx: Ctx, user: Reader) -> ReviewTargetsOut:
    """The team's promise for raised videos: reviewed within so many minutes of being raised
    (each video's ``priority.due`` is its level's target after ``priority.since``)."""
    with ctx.db.session() as session:
        return _targets_out(review_q.review_targets(session))


@router.put(
    "/review-targets",
    response_model=ReviewTargetsOut,
    responses={422: {"model": Problem}, **_ERRORS},
)
def set_review_targets(ctx: Ctx, user: Admin, body: ReviewTargetsIn) -> ReviewTargetsOut:
    """Set them, as an admin does on the dashboard's Queue page (audited; the token's account
    must be an admin). Late reviews are reported against them from the server's next check."""
    with ctx.db.session() as session:
        targets = review_rules.set_review_targets(
            session, urgent_minutes=body.urgent_minutes, high_minutes=body.high_minutes, user=user
        )
    return _targets_out(targets)


def _targets_out(targets: dict[ReviewPriority, float]) -> ReviewTargetsOut:
    minutes = review_rules.target_minutes(targets)
    return ReviewTargetsOut(
        urgent_minutes=minutes[ReviewPriority.URGENT], high_minutes=minutes[ReviewPriority.HIGH]
    )
