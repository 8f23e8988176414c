"""Model registry: versioned classifier artifacts on disk and which version is active.

Each version lives in ``models_dir/v<id>/``: the classifier's own files (safetensors weights and
JSON config, written by :func:`core.classifier.save_classifier`; nothing is ever unpickled),
``model.json`` (taxonomy snapshot, label index, encoder id/version, training config, metrics) and
``manifest.json`` (sha256 of every other file). A save writes into a temporary directory beside
the target, fsyncs it and renames it into place; only then is the database row flipped to
``ready`` (and active, if asked) in one short transaction. A crash at any point before that leaves
the previously active model untouched; leftover ``.v<id>-*`` temp directories are ignored, and
removed by the next save once their version is no longer ``training``.

Activation history is read back from the audit trail (every promotion and rollback is audited), so
:func:`rollback` returns to the version that was active before the current one, repeatedly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlmodel import Session

from core.classifier import HierarchicalClassifier, Hierarchy, load_classifier, save_classifier
from core.config import Settings
from core.errors import TaggerError
from core.media.decode import content_hash
from db.engine import Database
from db.queries import Actor
from db.queries import audit as audit_q
from db.queries import model_versions as models_q
from db.tables import AuditAction, ModelStatus, ModelVersion

METADATA_FILE = "model.json"
MANIFEST_FILE = "manifest.json"
_HISTORY_LIMIT = 10_000


class RegistryError(TaggerError):
    """A registry operation that cannot be done (unknown version, nothing to roll back to)."""


class NoActiveModelError(RegistryError):
    """No model version is active yet (train one first)."""


class ArtifactError(RegistryError):
    """A model's files are missing, incomplete or altered."""


@dataclass(frozen=True)
class ModelMetadata:
    """What a model was trained on; stored as ``model.json`` next to the weights."""

    encoder_id: str
    encoder_version: str
    node_ids: list[str]  # column i of the classifier's output is node_ids[i]
    node_paths: list[str]
    node_parents: list[list[int]]
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    n_train: int = 0
    n_valid: int = 0
    valid_video_ids: list[int] = field(default_factory=list)

    @property
    def hierarchy(self) -> Hierarchy:
        return Hierarchy(self.node_parents)


@dataclass(frozen=True)
class LoadedModel:
    """A registry version ready to predict."""

    version_id: int
    classifier: HierarchicalClassifier
    metadata: ModelMetadata

    @property
    def hierarchy(self) -> Hierarchy:
        return self.classifier.hierarchy_


def artifact_dir(settings: Settings, version_id: int) -> Path:
    return settings.models_dir / f"v{version_id}"


def write_artifact(
    settings: Settings, version_id: int, classifier: HierarchicalClassifier, metadata: ModelMetadata
) -> Path:
    """Write the version's directory atomically (temp dir, fsync, rename); returns it."""
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    final = artifact_dir(settings, version_id)
    if final.exists():
        raise ArtifactError(f"{final} already exists; model version ids are never reused")
    temp = Path(tempfile.mkdtemp(dir=settings.models_dir, prefix=f".v{version_id}-"))
    try:
        save_classifier(classifier, temp, label_ids=metadata.node_ids)
        (temp / METADATA_FILE).write_text(json.dumps(asdict(metadata), indent=1, allow_nan=False))
        manifest = {p.name: content_hash(p) for p in sorted(temp.iterdir()) if p.is_file()}
        (temp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
        for path in temp.iterdir():
            _fsync(path)
        _fsync(temp)
        os.rename(temp, final)
        _fsync(settings.models_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return final


def verify_artifact(directory: Path) -> None:
    """Raise :class:`ArtifactError` unless every file of the manifest is there, unchanged."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{directory} has no readable {MANIFEST_FILE}: {e}") from e
    if METADATA_FILE not in manifest:
        raise ArtifactError(f"{directory}/{MANIFEST_FILE} does not list {METADATA_FILE}")
    for name, digest in manifest.items():
        path = directory / name
        if not path.is_file():
            raise ArtifactError(f"{path} is missing")
        if content_hash(path) != digest:
            raise ArtifactError(f"{path} does not match its checksum")


def register_version(
    db: Database,
    *,
    version_id: int,
    classifier: HierarchicalClassifier,
    metadata: ModelMetadata,
    settings: Settings,
    user: Actor | None,
    activate: bool,
) -> ModelVersion:
    """Save a trained version's files, then mark it ``ready``; it becomes active when
    ``activate`` is set or when no model is active yet (the first model)."""
    _remove_abandoned_temp_dirs(db, settings)
    directory = write_artifact(settings, version_id, classifier, metadata)
    with db.session() as session:
        version = models_q.finish_model_version(
            session,
            model_version_id=version_id,
            status=ModelStatus.READY,
            artifact_path=str(directory.relative_to(settings.data_dir)),
            metrics=metadata.metrics,
            n_train=metadata.n_train,
            n_valid=metadata.n_valid,
            user=user,
        )
        if activate or models_q.get_active_model(session) is None:
            version = models_q.set_active_model(
                session, model_version_id=version_id, user=user, action=AuditAction.MODEL_PROMOTED
            )
    return version


def promote(
    db: Database, version_id: int, user: Actor | None, *, settings: Settings
) -> ModelVersion:
    """Make a ready version active after checking its files; audited."""
    with db.session() as session:
        version = models_q.get_model_version(session, model_version_id=version_id)
    if version.is_active:
        raise RegistryError(f"model version {version_id} is already active")
    if version.status != ModelStatus.READY:
        raise RegistryError(
            f"model version {version_id} is {version.status}; only ready versions can be promoted"
        )
    verify_artifact(_directory(version, settings))
    with db.session() as session:
        return models_q.set_active_model(
            session, model_version_id=version_id, user=user, action=AuditAction.MODEL_PROMOTED
        )


def rollback(db: Database, user: Actor | None, *, settings: Settings) -> ModelVersion:
    """Re-activate the version that was active before the current one; audited."""
    with db.session() as session:
        active = models_q.get_active_model(session)
        history = _activation_stack(session)
        versions = {v.id: v for v in models_q.list_model_versions(session, limit=_HISTORY_LIMIT)}
    if active is None:
        raise NoActiveModelError("no model is active, nothing to roll back")
    while history and history[-1] != active.id:
        history.pop()
    candidates = [
        v
        for v in reversed(history[:-1])
        if v != active.id and v in versions and versions[v].status == ModelStatus.READY
    ]
    if not candidates:
        raise RegistryError(
            f"model version {active.id} is the first active model; there is nothing to roll back to"
        )
    target = versions[candidates[0]]
    verify_artifact(_directory(target, settings))
    with db.session() as session:
        return models_q.set_active_model(
            session, model_version_id=target.id, user=user, action=AuditAction.MODEL_ROLLED_BACK
        )


def load_model(db: Database, version_id: int, *, settings: Settings) -> LoadedModel:
    """A ready version's classifier and metadata (cached per process, files verified once)."""
    with db.session() as session:
        version = models_q.get_model_version(session, model_version_id=version_id)
    if version.status != ModelStatus.READY:
        raise RegistryError(f"model version {version_id} is {version.status}, not ready")
    directory = _directory(version, settings).resolve()
    key = (str(directory), version_id)
    with _cache_lock:
        if key not in _cache:
            verify_artifact(directory)
            metadata = ModelMetadata(**json.loads((directory / METADATA_FILE).read_text()))
            try:
                classifier = load_classifier(directory, device=settings.device)
            except ValueError as e:
                raise ArtifactError(f"model version {version_id}: {e}") from e
            _cache[key] = LoadedModel(
                version_id=version_id, classifier=classifier, metadata=metadata
            )
        return _cache[key]


def load_active_model(db: Database, *, settings: Settings) -> LoadedModel:
    with db.session() as session:
        active = models_q.get_active_model(session)
    if active is None:
        raise NoActiveModelError("no model is active yet; run `tagger train`")
    return load_model(db, active.id, settings=settings)


_cache: dict[tuple[str, int], LoadedModel] = {}
_cache_lock = threading.Lock()


def _directory(version: ModelVersion, settings: Settings) -> Path:
    if not version.artifact_path:
        raise ArtifactError(f"model version {version.id} has no stored files")
    return settings.data_dir / version.artifact_path


def _remove_abandoned_temp_dirs(db: Database, settings: Settings) -> None:
    """Delete ``.v<id>-*`` directories left by saves that crashed (their version is no longer
    ``training``); a save still in progress elsewhere keeps its directory."""
    if not settings.models_dir.is_dir():
        return
    leftovers = {}
    for path in settings.models_dir.iterdir():
        match = re.fullmatch(r"\.v(\d+)-.+", path.name)
        if match and path.is_dir():
            leftovers[path] = int(match[1])
    if not leftovers:
        return
    with db.session() as session:
        versions = {
            v.id: v.status for v in models_q.list_model_versions(session, limit=_HISTORY_LIMIT)
        }
    for path, version_id in leftovers.items():
        if versions.get(version_id) != ModelStatus.TRAINING:
            shutil.rmtree(path, ignore_errors=True)


def _activation_stack(session: Session) -> list[int]:
    """Versions in activation order: a promotion pushes, a rollback pops back to its target."""
    events = audit_q.list_audit(session, action=AuditAction.MODEL_PROMOTED, limit=_HISTORY_LIMIT)
    events += audit_q.list_audit(
        session, action=AuditAction.MODEL_ROLLED_BACK, limit=_HISTORY_LIMIT
    )
    stack: list[int] = []
    for event in sorted(events, key=lambda e: e.id):
        target = int(json.loads(event.detail_json)["model_version_id"])
        if event.action == AuditAction.MODEL_ROLLED_BACK:
            while stack and stack[-1] != target:
                stack.pop()
        if not stack or stack[-1] != target:
            stack.append(target)
    return stack


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
