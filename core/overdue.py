"""Late reviews: a raised video still not reviewed when the admin's review target for its level
has passed (``db.queries.review.review_targets``) is reported once: audited (``review_overdue``,
in the video's history) and sent to webhook subscribers as ``video.overdue``, so that a platform
can act on a reported video nobody has looked at in time (limit it, escalate to its own staff)
without polling every video's ``priority.due``.

Raised again to another level, a video is reported again if that level's target passes too.
The dashboard server checks every minute (:class:`OverdueWatcher`); the Queue page and the
alerting rules show the same lateness to the team.
"""

from __future__ import annotations

import logging
from datetime import datetime

from core.background import PeriodicCheck
from core.review import priority_name, review_due
from db.engine import Database
from db.queries import audit as audit_q
from db.queries import review as review_q
from db.queries import webhooks as webhooks_q
from db.tables import AuditAction, ReviewPriority, Video, WebhookEvent, utcnow

logger = logging.getLogger(__name__)

BATCH = 500  # videos per unit of work
CHECK_EVERY_S = 60.0


def report_overdue(db: Database, *, now: datetime | None = None) -> int:
    """Report every raised video whose target passed unreviewed and that was not reported since
    it was raised (module docstring); returns how many were reported."""
    now = now or utcnow()
    reported = 0
    while True:
        with db.session() as session:
            targets = review_q.review_targets(session)
            late = review_q.overdue_videos(session, targets=targets, now=now, limit=BATCH)
            if not late:
                return reported
            details = {video.id: _lateness(video, targets) for video in late}
            audit_q.add_video_audits(
                session, action=AuditAction.REVIEW_OVERDUE, details=details, at=now
            )
            webhooks_q.enqueue_video_events(
                session,
                event=WebhookEvent.VIDEO_OVERDUE,
                videos=late,
                details={video_id: {"overdue": detail} for video_id, detail in details.items()},
            )
        reported += len(late)
        logger.info("%d raised videos passed their review target unreviewed", len(late))


def _lateness(video: Video, targets: dict[ReviewPriority, float]) -> dict[str, str | None]:
    """What the audit entry and the event say: the level, why it was raised, when, and when it
    was due."""
    due = review_due(video, targets)
    assert due is not None and video.prioritized_at is not None  # overdue_videos: raised ones
    return {
        "priority": priority_name(video.priority),
        "reason": video.priority_reason,
        "raised_at": video.prioritized_at.isoformat(),
        "due": due.isoformat(),
    }


class OverdueWatcher(PeriodicCheck):
    """Every minute, :func:`report_overdue` (the server always runs it)."""

    name = "overdue-reviews"

    def interval_s(self) -> float:
        return CHECK_EVERY_S

    def check(self) -> None:
        report_overdue(self.db)
