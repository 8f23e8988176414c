"""Prediction on a Ray cluster (``tagger predict --all --ray``): the classifier runs in actors that
load the model's files once from the shared data dir, or, when ``ray_data_uri`` names object
storage, from a copy of them sent by this process (GPU actors when the device is cuda); this
process reads the embeddings and writes the predictions batch by batch through the same
functions as :func:`core.lifecycle.prediction.predict_videos`, so it stays the only database
writer. A batch is written in one transaction that replaces the version's rows for its videos,
so a run that dies is simply run again; an actor lost with its node is restarted and its
batches retried by Ray. The review queue is then re-ranked here, in the driver, by the same
function as after ``predict_videos`` (:mod:`core.lifecycle.review_order`).
"""

from __future__ import annotations

import tempfile
from collections import deque
from pathlib import Path

import numpy as np

from core.classifier import load_classifier
from core.config import Settings
from core.ingest.distributed import ACTOR_CPUS, RayIngestError, data_uri
from core.ingest.storage import open_store, write_returned
from core.lifecycle import model_inputs, prediction, registry, review_order
from core.lifecycle.progress import StepCallback, StepProgress
from db.engine import Database

IN_FLIGHT_PER_ACTOR = 2  # batches queued per actor while the driver writes


class _Predictor:
    """Ray actor: one loaded classifier, read from ``artifact`` in the mounted data dir, or from
    ``files`` (the artifact's files by name) written to a scratch dir removed once loaded."""

    def __init__(self, artifact: str | None, device: str, files: dict[str, bytes] | None) -> None:
        if artifact is not None:
            self.classifier = load_classifier(artifact, device=device)
            return
        with tempfile.TemporaryDirectory(prefix="tagger-model-") as scratch:
            write_returned(Path(scratch), files)
            self.classifier = load_classifier(scratch, device=device)

    def predict_proba(self, X: dict[str, np.ndarray]) -> np.ndarray:
        return self.classifier.predict_proba(X)


def predict_on_ray(
    db: Database,
    *,
    settings: Settings,
    version_id: int | None = None,
    all_videos: bool = False,
    max_actors: int | None = None,
    progress: StepCallback | None = None,
) -> int:
    """:func:`~core.lifecycle.prediction.predict_videos` with the classifier on the cluster
    (join it first with :func:`core.ingest.distributed.connect`), then the same re-ranking of
    the review queue, here in the driver; returns videos predicted."""
    import ray

    if not ray.is_initialized():
        raise RayIngestError("not connected to a Ray cluster (call connect() first)")
    model = prediction.select_model(db, settings=settings, version_id=version_id)
    ids = prediction.videos_to_predict(db, model=model, video_ids=None, all_videos=all_videos)
    done = 0
    if ids:
        done = _predict_with_actors(
            db, model=model, ids=ids, settings=settings, max_actors=max_actors, progress=progress
        )
    # as predict_videos does
    review_order.rank_review_pool(db, model=model, settings=settings, progress=progress)
    return done


def _predict_with_actors(
    db: Database,
    *,
    model: registry.LoadedModel,
    ids: list[int],
    settings: Settings,
    max_actors: int | None,
    progress: StepCallback | None,
) -> int:
    """Predict ``ids`` batch by batch in actors, writing each batch here as it comes back."""
    import ray

    store = open_store(data_uri(settings))  # a clear error before any actor starts
    artifact = registry.artifact_dir(settings, model.version_id).resolve()
    if store.mounted:  # each actor reads the model where it is
        relative = artifact.relative_to(settings.data_dir.resolve())
        source, files = str(Path(store.root) / relative), None
    else:  # a few MB, put in Ray's object store once for every actor
        source, files = None, ray.put({path.name: path.read_bytes() for path in artifact.iterdir()})
    batches = [
        ids[start : start + prediction.PREDICT_BATCH]
        for start in range(0, len(ids), prediction.PREDICT_BATCH)
    ]
    size = min(max_actors or max(1, int(ray.cluster_resources().get("CPU", 1))), len(batches))
    actor = ray.remote(
        num_cpus=ACTOR_CPUS,
        num_gpus=1 if settings.device.startswith("cuda") else 0,
        max_restarts=-1,
        max_task_retries=-1,
    )(_Predictor)
    actors = [actor.remote(source, settings.device, files) for _ in range(size)]
    done = seen = 0
    pending: deque[tuple[list[int], ray.ObjectRef]] = deque()

    def write_oldest() -> int:
        batch_ids, proba = pending.popleft()
        return prediction.store_predictions(
            db, model=model, video_ids=batch_ids, proba=ray.get(proba)
        )

    try:
        for index, batch in enumerate(batches):
            inputs = model_inputs.load_inputs(db, model=model, video_ids=batch)
            seen += len(batch)
            if inputs is not None:
                batch_ids, X = inputs
                pending.append((batch_ids, actors[index % size].predict_proba.remote(X)))
            if len(pending) >= IN_FLIGHT_PER_ACTOR * size:
                done += write_oldest()
            if progress is not None:
                progress(StepProgress(prediction.PREDICT_STEP, seen, len(ids)))
        while pending:
            done += write_oldest()
    finally:
        for handle in actors:
            ray.kill(handle)
    return done
