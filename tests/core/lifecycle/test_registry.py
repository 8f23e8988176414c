"""Model registry: atomic saves, verified loads, promote/rollback with audit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.lifecycle import registry
from db.queries import audit as audit_q
from db.queries import model_versions as models_q
from db.tables import AuditAction, ModelStatus

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_register_writes_a_complete_artifact_and_first_model_becomes_active(
    db, settings, tiny_model, tiny_classifier, tiny_metadata
):
    version = tiny_model()
    directory = settings.data_dir / version.artifact_path
    assert directory == registry.artifact_dir(settings, version.id)
    assert {p.name for p in directory.iterdir()} == {
        "model.safetensors",
        "config.json",
        "model.json",
        "manifest.json",
    }
    assert version.status == ModelStatus.READY and version.is_active

    loaded = registry.load_active_model(db, settings=settings)
    assert loaded.version_id == version.id and loaded.metadata.node_ids == tiny_metadata.node_ids
    X = {"title": np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)}
    assert np.allclose(loaded.classifier.predict_proba(X), tiny_classifier.predict_proba(X))
    assert registry.load_active_model(db, settings=settings) is loaded  # cached per version


def test_no_active_model_is_a_clear_error(db, settings):
    with pytest.raises(registry.NoActiveModelError, match="tagger train"):
        registry.load_active_model(db, settings=settings)


def test_crash_while_saving_keeps_the_previous_model(
    db, settings, tiny_model, tiny_classifier, tiny_metadata, monkeypatch
):
    first = tiny_model()
    with db.session() as session:
        second_id = models_q.create_model_version(
            session, encoder_id="fake", encoder_version="v1"
        ).id

    def crash(*args):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(registry.os, "rename", crash)
    with pytest.raises(OSError, match="simulated"):
        registry.register_version(
            db,
            version_id=second_id,
            classifier=tiny_classifier,
            metadata=tiny_metadata,
            settings=settings,
            user=None,
            activate=True,
        )

    assert [p.name for p in settings.models_dir.iterdir()] == [
        f"v{first.id}"
    ]  # no partial dir left
    with db.session() as session:
        assert models_q.get_active_model(session).id == first.id
        assert (
            models_q.get_model_version(session, model_version_id=second_id).status
            == ModelStatus.TRAINING
        )
    assert registry.load_active_model(db, settings=settings).version_id == first.id


_SAVE_THEN_DIE = textwrap.dedent(
    """
    import json, os, signal, sys
    from core.lifecycle import registry
    from core.classifier import load_classifier
    from core.config import get_settings
    from db.engine import Database
    from db.queries import model_versions as models_q

    settings = get_settings()
    db = Database(settings.resolved_database_url)
    with db.session() as session:
        version_id = models_q.create_model_version(
            session, encoder_id="fake", encoder_version="v1"
        ).id
    # die just before the flip
    registry.os.rename = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
    metadata = registry.ModelMetadata(**json.loads(open(sys.argv[2]).read()))
    registry.register_version(db, version_id=version_id, classifier=load_classifier(sys.argv[1]),
                              metadata=metadata, settings=settings, user=None, activate=True)
    """
)


@pytest.mark.slow
def test_sigkill_while_saving_keeps_the_previous_model(
    db, settings, tiny_model, tiny_classifier, tiny_metadata, tmp_path
):
    from core.classifier import save_classifier

    first = tiny_model()
    save_classifier(tiny_classifier, tmp_path / "clf")
    (tmp_path / "meta.json").write_text(json.dumps(tiny_metadata.__dict__))
    env = {**os.environ, "TAGGER_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run(
        [sys.executable, "-c", _SAVE_THEN_DIE, str(tmp_path / "clf"), str(tmp_path / "meta.json")],
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == -9, done.stderr

    with db.session() as session:
        assert models_q.get_active_model(session).id == first.id
        statuses = [v.status for v in models_q.list_model_versions(session)]
    assert statuses == [ModelStatus.TRAINING, ModelStatus.READY]
    assert not registry.artifact_dir(settings, first.id + 1).exists()
    assert registry.load_active_model(db, settings=settings).version_id == first.id

    leftover = [p for p in settings.models_dir.iterdir() if p.name.startswith(f".v{first.id + 1}-")]
    assert leftover  # the half-written directory of the killed save
    with db.session() as session:
        models_q.finish_model_version(
            session, model_version_id=first.id + 1, status=ModelStatus.FAILED
        )
    tiny_model()
    assert not any(p.exists() for p in leftover)  # cleaned by the next save


def test_promote_and_rollback_walk_the_activation_history(db, settings, tiny_model):
    v1 = tiny_model()
    v2 = tiny_model()
    v3 = tiny_model()
    assert v1.is_active and not v2.is_active and not v3.is_active

    assert registry.promote(db, v2.id, None, settings=settings).is_active
    assert registry.promote(db, v3.id, None, settings=settings).is_active
    with pytest.raises(registry.RegistryError, match="already active"):
        registry.promote(db, v3.id, None, settings=settings)
    assert registry.rollback(db, None, settings=settings).id == v2.id
    assert registry.rollback(db, None, settings=settings).id == v1.id
    with pytest.raises(registry.RegistryError, match="nothing to roll back"):
        registry.rollback(db, None, settings=settings)
    assert registry.load_active_model(db, settings=settings).version_id == v1.id

    with db.session() as session:
        promoted = audit_q.list_audit(session, action=AuditAction.MODEL_PROMOTED)
        rolled = audit_q.list_audit(session, action=AuditAction.MODEL_ROLLED_BACK)
    assert [json.loads(e.detail_json)["model_version_id"] for e in promoted] == [
        v3.id,
        v2.id,
        v1.id,
    ]
    assert [json.loads(e.detail_json)["previous"] for e in rolled] == [v2.id, v3.id]


def test_promote_refuses_an_altered_artifact(db, settings, tiny_model):
    v1 = tiny_model()
    v2 = tiny_model()
    weights = registry.artifact_dir(settings, v2.id) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    with pytest.raises(registry.ArtifactError, match="checksum"):
        registry.promote(db, v2.id, None, settings=settings)
    with db.session() as session:
        assert models_q.get_active_model(session).id == v1.id


def test_a_failed_version_cannot_be_promoted(db, settings, tiny_model):
    tiny_model()
    with db.session() as session:
        failed = models_q.create_model_version(session, encoder_id="fake", encoder_version="v1")
        models_q.finish_model_version(
            session, model_version_id=failed.id, status=ModelStatus.FAILED
        )
    with pytest.raises(registry.RegistryError, match="failed"):
        registry.promote(db, failed.id, None, settings=settings)
