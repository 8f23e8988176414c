"""What the server's health and metrics read of the stored work (``GET /api/v1/ready``,
``/metrics``): the schema's version; videos per queue state, how long the oldest video has
waited for review, the high and urgent ones waiting, jobs and webhook deliveries per status,
the active model (a handful of grouped counts, read in one unit of work)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, inspect
from sqlmodel import Session, col, select

from db.queries import model_versions as models_q
from db.queries import review
from db.tables import (
    DeliveryStatus,
    Job,
    JobStatus,
    ModelVersion,
    ReviewPriority,
    SchemaInfo,
    Video,
    VideoStatus,
    WebhookDelivery,
)


@dataclass(frozen=True)
class ActiveModel:
    version_id: int
    encoder_id: str
    trained_at: datetime
    micro_auprc: float | None  # on its held-out videos; None when it has none


@dataclass(frozen=True)
class Overview:
    videos: dict[str, int]  # queue state (review.QUEUE_STATES) -> videos
    flagged_videos: int
    oldest_waiting_at: datetime | None  # arrival of the oldest video predicted, not yet reviewed
    prioritized: dict[ReviewPriority, review.PriorityBacklog]  # high and urgent, not reviewed
    review_targets: dict[ReviewPriority, float]  # the team's promise per raised level, seconds
    jobs: dict[tuple[str, str], int]  # (kind, status) -> jobs, every status in JobStatus
    webhook_deliveries: dict[str, int]  # DeliveryStatus -> deliveries (every status)
    active_model: ActiveModel | None


def overview(session: Session, *, now: datetime) -> Overview:
    """The counts above as stored at ``now`` (claims count as ``in_review`` until they expire)."""
    waiting = select(func.min(Video.created_at)).where(Video.status == VideoStatus.PREDICTED)
    jobs: dict[tuple[str, str], int] = {}
    for kind, status, n in session.exec(
        select(Job.kind, Job.status, func.count()).group_by(col(Job.kind), col(Job.status))
    ):
        jobs[kind, status] = n
    for kind in {kind for kind, _ in jobs}:
        for status in JobStatus:
            jobs.setdefault((kind, status.value), 0)
    deliveries = dict.fromkeys((status.value for status in DeliveryStatus), 0)
    deliveries.update(
        session.exec(
            select(WebhookDelivery.status, func.count()).group_by(col(WebhookDelivery.status))
        ).all()
    )
    return Overview(
        videos=review.queue_counts(session, now=now),
        flagged_videos=session.exec(
            select(func.count()).select_from(Video).where(col(Video.flagged))
        ).one(),
        oldest_waiting_at=session.exec(waiting).one(),
        prioritized=review.priority_backlog(session),
        review_targets=review.review_targets(session),
        jobs=jobs,
        webhook_deliveries=deliveries,
        active_model=_active(models_q.get_active_model(session)),
    )


def _active(version: ModelVersion | None) -> ActiveModel | None:
    if version is None:
        return None
    score = json.loads(version.metrics_json or "{}").get("micro_auprc")
    return ActiveModel(
        version_id=version.id,
        encoder_id=version.encoder_id,
        trained_at=version.created_at,
        micro_auprc=None if score is None or math.isnan(score) else float(score),
    )


def schema_version(session: Session) -> int | None:
    """The stored schema's version (None before the first ``init_db``)."""
    if not inspect(session.connection()).has_table(SchemaInfo.__tablename__):
        return None
    info = session.get(SchemaInfo, 1)
    return None if info is None else info.version
