"""Model versions (the registry's rows) and their stored predictions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from db.queries import Actor, NotFoundError, dump_json
from db.queries.audit import add_audit
from db.queries.webhooks import enqueue_model_event
from db.tables import (
    AuditAction,
    ModelStatus,
    ModelVersion,
    Prediction,
    WebhookEvent,
)

_STATUSES = {status.value for status in ModelStatus}


@dataclass(frozen=True)
class PredictionRow:
    video_id: int
    node_id: str
    probability: float
    is_predicted: bool


def create_model_version(
    session: Session,
    *,
    encoder_id: str,
    encoder_version: str,
    created_by: int | None = None,
    config: dict[str, Any] | None = None,
    notes: str = "",
) -> ModelVersion:
    """A new version in status ``training`` (not active)."""
    version = ModelVersion(
        encoder_id=encoder_id,
        encoder_version=encoder_version,
        created_by=created_by,
        config_json=dump_json(config or {}),
        notes=notes,
    )
    session.add(version)
    session.flush()
    return version


def finish_model_version(
    session: Session,
    *,
    model_version_id: int,
    status: str,
    artifact_path: str | None = None,
    metrics: dict[str, Any] | None = None,
    n_train: int = 0,
    n_valid: int = 0,
    notes: str | None = None,
    user: Actor | None = None,
) -> ModelVersion:
    """Record the outcome of training (``ready`` or ``failed``); audits ``model_trained``."""
    if status not in _STATUSES:
        raise ValueError(f"unknown model status {status!r}; expected one of {sorted(_STATUSES)}")
    version = get_model_version(session, model_version_id=model_version_id)
    version.status = str(status)
    version.artifact_path = artifact_path
    version.metrics_json = dump_json(metrics or {})
    version.n_train, version.n_valid = n_train, n_valid
    if notes is not None:
        version.notes = notes
    session.add(version)
    add_audit(
        session,
        action=AuditAction.MODEL_TRAINED,
        user=user,
        detail={
            "model_version_id": model_version_id,
            "status": str(status),
            "metrics": metrics or {},
        },
    )
    session.flush()
    return version


def get_model_version(session: Session, *, model_version_id: int) -> ModelVersion:
    version = session.get(ModelVersion, model_version_id)
    if version is None:
        raise NotFoundError(f"no model version {model_version_id}")
    return version


def list_model_versions(session: Session, *, limit: int = 50) -> list[ModelVersion]:
    """Newest first."""
    return list(
        session.exec(select(ModelVersion).order_by(col(ModelVersion.id).desc()).limit(limit))
    )


def get_active_model(session: Session) -> ModelVersion | None:
    return session.exec(select(ModelVersion).where(col(ModelVersion.is_active))).first()


def set_active_model(
    session: Session,
    *,
    model_version_id: int,
    user: Actor | None = None,
    action: str = AuditAction.MODEL_PROMOTED,
) -> ModelVersion:
    """Make exactly this (``ready``) version active; ``action`` is promoted or rolled_back."""
    version = get_model_version(session, model_version_id=model_version_id)
    if version.status != ModelStatus.READY:
        raise ValueError(
            f"model version {model_version_id} is {version.status}, "
            "only a ready model can be activated"
        )
    previous = get_active_model(session)
    session.exec(
        update(ModelVersion).where(col(ModelVersion.id) != model_version_id).values(is_active=False)
    )
    session.exec(
        update(ModelVersion).where(col(ModelVersion.id) == model_version_id).values(is_active=True)
    )
    add_audit(
        session,
        action=action,
        user=user,
        detail={
            "model_version_id": model_version_id,
            "previous": previous.id if previous else None,
        },
    )
    session.flush()
    version = session.get(ModelVersion, model_version_id, populate_existing=True)
    enqueue_model_event(
        session,
        event=WebhookEvent.MODEL_ACTIVATED,
        version=version,
        detail={
            "previous": previous.id if previous else None,
            "how": "rolled_back" if action == AuditAction.MODEL_ROLLED_BACK else "promoted",
        },
    )
    return version


# --- predictions --------------------------------------------------------------------------------


def put_predictions(
    session: Session, *, model_version_id: int, rows: Sequence[PredictionRow]
) -> int:
    """Replace this model's predictions for the videos in ``rows`` (the caller chooses which
    tags to keep: ``core.lifecycle.prediction.store_predictions``). Returns rows written."""
    video_ids = {row.video_id for row in rows}
    if not video_ids:
        return 0
    session.exec(
        delete(Prediction).where(
            col(Prediction.model_version_id) == model_version_id,
            col(Prediction.video_id).in_(video_ids),
        )
    )
    kept = [
        Prediction(
            video_id=row.video_id,
            model_version_id=model_version_id,
            node_id=row.node_id,
            probability=float(row.probability),
            is_predicted=bool(row.is_predicted),
        )
        for row in rows
    ]
    session.add_all(kept)
    session.flush()
    return len(kept)


def get_predictions(session: Session, *, video_id: int, model_version_id: int) -> list[Prediction]:
    """Highest probability first."""
    query = (
        select(Prediction)
        .where(Prediction.video_id == video_id, Prediction.model_version_id == model_version_id)
        .order_by(col(Prediction.probability).desc(), col(Prediction.node_id))
    )
    return list(session.exec(query))


def get_predictions_for_videos(
    session: Session, *, video_ids: Sequence[int], model_version_id: int
) -> dict[int, list[Prediction]]:
    if not video_ids:
        return {}
    query = (
        select(Prediction)
        .where(
            col(Prediction.video_id).in_(set(video_ids)),
            Prediction.model_version_id == model_version_id,
        )
        .order_by(col(Prediction.video_id), col(Prediction.probability).desc())
    )
    result: dict[int, list[Prediction]] = {}
    for prediction in session.exec(query):
        result.setdefault(prediction.video_id, []).append(prediction)
    return result
