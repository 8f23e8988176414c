"""Model versions (exactly one active, audited) and predictions (floor, replace)."""

from __future__ import annotations

import json

import pytest

from db.engine import Database
from db.queries import NotFoundError, audit
from db.queries import model_versions as models
from db.queries.model_versions import PredictionRow
from db.tables import AuditAction, ModelStatus


def _ready_model(session, n: int) -> int:
    version = models.create_model_version(
        session, encoder_id="lite", encoder_version="1", config={"n": n}
    )
    models.finish_model_version(
        session,
        model_version_id=version.id,
        status=ModelStatus.READY,
        artifact_path=f"models/{version.id}",
        metrics={"f1": 0.5 + n / 10},
        n_train=10,
        n_valid=2,
    )
    return version.id


def test_exactly_one_active_model_and_audit(database: Database, moderator) -> None:
    with database.session() as session:
        first, second = _ready_model(session, 1), _ready_model(session, 2)
        assert models.get_active_model(session) is None
        models.set_active_model(session, model_version_id=first, user=moderator)
        models.set_active_model(session, model_version_id=second, user=moderator)
        models.set_active_model(
            session, model_version_id=first, user=moderator, action=AuditAction.MODEL_ROLLED_BACK
        )
    with database.session() as session:
        assert models.get_active_model(session).id == first
        assert [v.is_active for v in models.list_model_versions(session)] == [False, True]
        assert json.loads(
            models.get_model_version(session, model_version_id=second).metrics_json
        ) == {"f1": 0.7}
        rolled = audit.list_audit(session, action=AuditAction.MODEL_ROLLED_BACK)
        assert json.loads(rolled[0].detail_json) == {"model_version_id": first, "previous": second}
        assert len(audit.list_audit(session, action=AuditAction.MODEL_TRAINED)) == 2


def test_only_ready_models_can_be_activated(database: Database) -> None:
    with database.session() as session:
        training = models.create_model_version(session, encoder_id="lite", encoder_version="1").id
    with pytest.raises(ValueError, match="only a ready model"), database.session() as session:
        models.set_active_model(session, model_version_id=training)
    with pytest.raises(NotFoundError), database.session() as session:
        models.get_model_version(session, model_version_id=999)


def test_predictions_replace(database: Database) -> None:
    with database.session() as session:
        mv = _ready_model(session, 1)
        written = models.put_predictions(
            session,
            model_version_id=mv,
            rows=[
                PredictionRow(1, "a", 0.9, True),
                PredictionRow(1, "b", 0.002, True),  # kept: which rows to store is the caller's
                PredictionRow(2, "a", 0.3, False),
            ],
        )
        assert written == 3
        models.put_predictions(
            session, model_version_id=mv, rows=[PredictionRow(1, "c", 0.6, True)]
        )
    with database.session() as session:
        assert [
            (p.node_id, p.probability)
            for p in models.get_predictions(session, video_id=1, model_version_id=mv)
        ] == [("c", 0.6)]
        by_video = models.get_predictions_for_videos(session, video_ids=[1, 2], model_version_id=mv)
        assert {v: [p.node_id for p in ps] for v, ps in by_video.items()} == {1: ["c"], 2: ["a"]}
