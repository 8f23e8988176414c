"""Lead-review queries: unjudged moderator reviews, verdict rows, and sending a review back.

The rules (who may judge, what a sample is, what a verdict does, how accuracy is scored) live
in ``core.lead_review``; these functions only read and write rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.sql import Select
from sqlmodel import Session, col, select

from db.queries import dump_json
from db.tables import LeadReview, Role, User, Video, VideoStatus


@dataclass(frozen=True)
class Verdict:
    """One stored lead verdict on a moderator's review."""

    moderator_id: int | None
    verdict: str
    labels_before: list[str]
    labels_after: list[str]


def _unjudged_moderator_reviews() -> Select:
    """Reviewed videos whose reviewer is a moderator and has no verdict since the review."""
    judged = select(LeadReview.video_id).where(
        col(LeadReview.created_at) >= col(Video.reviewed_at),
        col(LeadReview.video_id) == col(Video.id),
    )
    return (
        select(Video, User.username)
        .join(User, col(User.id) == col(Video.reviewed_by))
        .where(
            col(Video.status) == VideoStatus.REVIEWED,
            col(User.role) == Role.MODERATOR,
            ~judged.exists(),
        )
    )


def _of(query: Select, moderator_id: int | None) -> Select:
    return query if moderator_id is None else query.where(col(Video.reviewed_by) == moderator_id)


def random_unjudged(
    session: Session, *, n: int, moderator_id: int | None = None
) -> list[tuple[Video, str]]:
    """Up to ``n`` unjudged moderator reviews (of ``moderator_id``, or anyone's) in random order,
    with the moderator's name."""
    query = _of(_unjudged_moderator_reviews(), moderator_id)
    return list(session.exec(query.order_by(func.random()).limit(n)))


def unjudged_among(
    session: Session, *, video_ids: Sequence[int], moderator_id: int | None = None
) -> list[tuple[Video, str]]:
    """The unjudged moderator reviews among ``video_ids`` (of ``moderator_id``, or anyone's),
    with the moderator's name."""
    query = _of(_unjudged_moderator_reviews(), moderator_id)
    return list(session.exec(query.where(col(Video.id).in_(list(video_ids)))))


def unjudged_by_moderator(session: Session) -> list[tuple[int, str, int]]:
    """``(user id, username, unjudged reviews)`` of each moderator with any, by name."""
    reviews = _unjudged_moderator_reviews().subquery()
    rows = session.exec(
        select(reviews.c.reviewed_by, reviews.c.username, func.count())
        .group_by(reviews.c.reviewed_by, reviews.c.username)
        .order_by(reviews.c.username)
    )
    return [(user_id, name, count) for user_id, name, count in rows]


def add_verdict(
    session: Session,
    *,
    video_id: int,
    moderator_id: int | None,
    lead_id: int | None,
    verdict: str,
    before: Sequence[str],
    after: Sequence[str],
    comment: str,
) -> LeadReview:
    row = LeadReview(
        video_id=video_id,
        moderator_id=moderator_id,
        lead_id=lead_id,
        verdict=verdict,
        comment=comment,
        labels_before_json=dump_json(sorted(before)),
        labels_after_json=dump_json(sorted(after)),
    )
    session.add(row)
    return row


def list_verdicts(session: Session, *, moderator_id: int | None = None) -> list[Verdict]:
    """Every verdict, or those on ``moderator_id``'s reviews."""
    query = select(LeadReview)
    if moderator_id is not None:
        query = query.where(col(LeadReview.moderator_id) == moderator_id)
    return [
        Verdict(
            row.moderator_id,
            row.verdict,
            json.loads(row.labels_before_json),
            json.loads(row.labels_after_json),
        )
        for row in session.exec(query).all()
    ]


def latest_verdicts_on(
    session: Session, *, moderator_id: int, limit: int
) -> list[tuple[LeadReview, str, str]]:
    """The newest ``limit`` verdicts on ``moderator_id``'s reviews, each with the video's title
    and the lead's name."""
    rows = session.exec(
        select(LeadReview, Video.title, User.username)
        .join(Video, col(Video.id) == col(LeadReview.video_id))
        .join(User, col(User.id) == col(LeadReview.lead_id))
        .where(col(LeadReview.moderator_id) == moderator_id)
        .order_by(col(LeadReview.created_at).desc(), col(LeadReview.id).desc())
        .limit(limit)
    ).all()
    return [(row, title, lead) for row, title, lead in rows]


def send_back(
    session: Session,
    *,
    video: Video,
    status: VideoStatus,
    flag_reason: str,
    now: datetime,
    hold_until: datetime,
) -> None:
    """Take the video out of ``reviewed`` into ``status``, flagged, claimed for its moderator
    until ``hold_until``, its version bumped."""
    session.exec(
        update(Video)
        .where(col(Video.id) == video.id)
        .values(
            status=status,
            reviewed_at=None,
            flagged=True,
            flag_reason=flag_reason,
            claimed_by=video.reviewed_by,
            claim_expires_at=hold_until,
            version=col(Video.version) + 1,
            updated_at=now,
        )
    )


def usernames(session: Session) -> dict[int, str]:
    return dict(session.exec(select(User.id, User.username)).all())
