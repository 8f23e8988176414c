"""The admin's retraining policy, and what deciding on it needs from the database (the rules:
``core.quality.set_retrain_policy`` and ``core.lifecycle.retrain_policy``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from db.queries.audit import add_audit
from db.queries.webhooks import enqueue_model_event
from db.tables import (
    AuditAction,
    ModelStatus,
    ModelVersion,
    RetrainPolicy,
    Video,
    WebhookEvent,
    utcnow,
)


def get_policy(session: Session) -> RetrainPolicy:
    """The stored policy, or the default one (on demand, any gain promotes)."""
    return session.get(RetrainPolicy, 1) or RetrainPolicy(id=1)


def store_policy(
    session: Session,
    *,
    mode: str,
    every_hours: float,
    after_labels: int,
    min_gain: float,
    user_id: int | None,
) -> RetrainPolicy:
    """Write the policy as given (``core.quality.set_retrain_policy`` validates it)."""
    row = session.get(RetrainPolicy, 1) or RetrainPolicy(id=1)
    row.mode, row.every_hours, row.after_labels, row.min_gain = (
        mode,
        float(every_hours),
        int(after_labels),
        float(min_gain),
    )
    row.updated_by, row.updated_at = user_id, utcnow()
    session.add(row)
    session.flush()
    return row


def record_run(session: Session, *, at: datetime, job_id: int | None) -> RetrainPolicy:
    """Note that the policy started a retrain at ``at`` (in background job ``job_id``)."""
    row = session.get(RetrainPolicy, 1) or RetrainPolicy(id=1)
    row.last_run_at, row.last_run_job_id = at, job_id
    session.add(row)
    session.flush()
    return row


def last_training_started(session: Session) -> datetime | None:
    """When the newest training run that did not fail was started."""
    return session.exec(
        select(func.max(ModelVersion.created_at)).where(
            col(ModelVersion.status) != ModelStatus.FAILED
        )
    ).one()


def reviewed_since(session: Session, *, since: datetime | None) -> int:
    """Videos with a confirmed (human) review saved after ``since`` (all of them for None)."""
    query = select(func.count()).select_from(Video).where(col(Video.reviewed_at).is_not(None))
    if since is not None:
        query = query.where(col(Video.reviewed_at) > since)
    return session.exec(query).one()


def hold_back(session: Session, *, model_version_id: int, reason: str) -> ModelVersion:
    """Record why a ready version was not promoted automatically (it waits for a human)."""
    version = session.get(ModelVersion, model_version_id)
    version.notes = reason[:500]
    session.add(version)
    add_audit(
        session,
        action=AuditAction.MODEL_HELD_BACK,
        detail={"model_version_id": model_version_id, "reason": reason},
    )
    session.flush()
    enqueue_model_event(
        session, event=WebhookEvent.MODEL_HELD_BACK, version=version, detail={"reason": reason}
    )
    return version
