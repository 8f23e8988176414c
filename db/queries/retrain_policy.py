"""The admin's retraining policy, and what deciding on it needs from the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from db.queries import Actor
from db.queries.audit import add_audit
from db.queries.quality import QualityInputError, require_role
from db.tables import AuditAction, ModelStatus, ModelVersion, RetrainPolicy, Role, Video, utcnow

RETRAIN_MODES = ("on_demand", "schedule", "after_labels")


def get_policy(session: Session) -> RetrainPolicy:
    """The stored policy, or the default one (on demand, any gain promotes)."""
    return session.get(RetrainPolicy, 1) or RetrainPolicy(id=1)


def set_policy(
    session: Session,
    *,
    mode: str,
    every_hours: float,
    after_labels: int,
    min_gain: float,
    user: Actor | None,
) -> RetrainPolicy:
    """``user`` None is the operator at the command line; a dashboard user must be an admin."""
    if user is not None:
        require_role(session, user, (Role.ADMIN.value,), "changing the retraining policy")
    if mode not in RETRAIN_MODES:
        raise QualityInputError(f"unknown retrain mode {mode!r}; expected one of {RETRAIN_MODES}")
    if every_hours <= 0 or after_labels < 1:
        raise QualityInputError("every_hours must be > 0 and after_labels >= 1")
    if not -1.0 <= min_gain <= 1.0:
        raise QualityInputError(f"min_gain is in AU(PRC) points, between -1 and 1; got {min_gain}")
    row = session.get(RetrainPolicy, 1) or RetrainPolicy(id=1)
    row.mode, row.every_hours, row.after_labels, row.min_gain = (
        mode,
        float(every_hours),
        int(after_labels),
        float(min_gain),
    )
    row.updated_by, row.updated_at = (user.id if user is not None else None), utcnow()
    session.add(row)
    add_audit(
        session,
        action=AuditAction.RETRAIN_POLICY,
        user=user,
        detail={
            "mode": mode,
            "every_hours": every_hours,
            "after_labels": after_labels,
            "min_gain": min_gain,
        },
    )
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
    return version
