"""Predicting tags for stored videos from their cached embeddings (no encoder runs).

Writes one ``Prediction`` row per (video, model version, tag) with probability >= the floor, the
tag predicted or the video's least-sure one, and each video's denormalised summary for the review
queue: which version predicted it, its most confident most-specific tag, the tag whose decision
is its closest call (the Review page's "least sure about"), and its uncertainty (the certainty
filter and column, and the queue's order among videos not yet ranked by
:mod:`core.lifecycle.review_order`).

Uncertainty: :func:`core.ranking.closest_call`, how close the video's closest call among the tags
a moderator would weigh sits to its tag's decision threshold (1 on it, 0 as far as can be): the
video whose closest call is closest comes first in "least certain first" (a descending sort).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core import priority_rules
from core.classifier import TagTree, decode, tag_tree
from core.config import Settings
from core.lifecycle import model_inputs, registry, review_order
from core.lifecycle.progress import StepCallback, StepProgress
from core.ranking import closest_call, closest_call_tag
from db.engine import Database
from db.queries import model_versions as models_q
from db.queries import videos as videos_q
from db.tables import PREDICTION_FLOOR, VideoStatus

PREDICT_BATCH = 256
PREDICT_STEP = "predicting"
_PREDICTABLE = (VideoStatus.READY, VideoStatus.PREDICTED, VideoStatus.REVIEWED)


def predict_videos(
    db: Database,
    *,
    settings: Settings,
    version_id: int | None = None,
    video_ids: Sequence[int] | None = None,
    all_videos: bool = False,
    progress: StepCallback | None = None,
) -> int:
    """Predict with a version (default: the active one); returns how many videos got predictions.

    Which videos: ``video_ids`` if given; else every processed video when ``all_videos``; else
    the processed videos this version has not predicted yet. Videos without embeddings of the
    version's encoder are skipped.

    A pool-wide run (no ``video_ids``) then re-ranks the review queue
    (:func:`core.lifecycle.review_order.rank_review_pool`), even when nothing was new to predict;
    videos predicted by id (after ingest) wait unranked for the next ranking
    (:mod:`core.lifecycle.queue_ranking`). ``progress``
    hears the prediction (:data:`PREDICT_STEP`), then each step of the ranking; the function
    returns once the ranks are written.
    """
    model = select_model(db, settings=settings, version_id=version_id)
    ids = videos_to_predict(db, model=model, video_ids=video_ids, all_videos=all_videos)
    done = 0
    for start in range(0, len(ids), PREDICT_BATCH):
        done += _predict_batch(db, model, ids[start : start + PREDICT_BATCH])
        if progress is not None:
            progress(StepProgress(PREDICT_STEP, min(start + PREDICT_BATCH, len(ids)), len(ids)))
    if video_ids is None:
        review_order.rank_review_pool(db, model=model, settings=settings, progress=progress)
    return done


def predict_with_active_model(db: Database, *, settings: Settings, video_ids: Sequence[int]) -> int:
    """Predict videos whose inputs just changed (ingested, transcribed again) with the active
    model; 0 when there is none yet or nothing to predict."""
    if not video_ids:
        return 0
    try:
        return predict_videos(db, settings=settings, video_ids=video_ids)
    except registry.NoActiveModelError:
        return 0


def select_model(
    db: Database, *, settings: Settings, version_id: int | None
) -> registry.LoadedModel:
    """The version asked for, else the active one."""
    if version_id is not None:
        return registry.load_model(db, version_id, settings=settings)
    return registry.load_active_model(db, settings=settings)


def videos_to_predict(
    db: Database,
    *,
    model: registry.LoadedModel,
    video_ids: Sequence[int] | None,
    all_videos: bool,
) -> list[int]:
    """Sorted ids (see :func:`predict_videos` for which)."""
    if video_ids is None:
        with db.session() as session:
            candidates = videos_q.list_videos(session, statuses=list(_PREDICTABLE))
        video_ids = [
            v.id for v in candidates if all_videos or v.predicted_model_id != model.version_id
        ]
    return sorted(set(video_ids))


def _predict_batch(db: Database, model: registry.LoadedModel, video_ids: list[int]) -> int:
    inputs = model_inputs.load_inputs(db, model=model, video_ids=video_ids)
    if inputs is None:
        return 0
    ids, X = inputs
    return store_predictions(
        db, model=model, video_ids=ids, proba=model.classifier.predict_proba(X)
    )


def store_predictions(
    db: Database, *, model: registry.LoadedModel, video_ids: list[int], proba: np.ndarray
) -> int:
    """Write the rows and summaries of one batch in one transaction, with the priorities the
    rules raise from them (:mod:`core.priority_rules`); returns videos written."""
    meta = model.metadata
    clf = model.classifier
    decisions = proba >= clf.thresholds_
    scores = closest_call(proba, clf.thresholds_)
    doubts = closest_call_tag(proba, clf.thresholds_)
    rows: list[models_q.PredictionRow] = []
    summaries: list[videos_q.PredictionSummary] = []
    for i, video_id in enumerate(video_ids):
        # what the review page and the API show: every tag above the floor, every predicted tag
        # (a threshold may sit under the floor) and the tag the model is least sure about
        kept = (proba[i] >= PREDICTION_FLOOR) | decisions[i]
        kept[doubts[i]] = True
        for node in np.flatnonzero(kept):
            rows.append(
                models_q.PredictionRow(
                    video_id=video_id,
                    node_id=meta.node_ids[node],
                    probability=float(proba[i, node]),
                    is_predicted=bool(decisions[i, node]),
                )
            )
        tags = decode(proba[i], decisions[i], model.hierarchy, labels=meta.node_ids)
        summaries.append(
            videos_q.PredictionSummary(
                video_id=video_id,
                uncertainty=float(scores[i]),
                top_tag=tags[0].label if tags else None,
                doubt_tag=meta.node_ids[doubts[i]],
            )
        )
    with db.session() as session:
        models_q.put_predictions(session, model_version_id=model.version_id, rows=rows)
        videos_q.set_prediction_summaries(
            session, model_version_id=model.version_id, summaries=summaries
        )
        priority_rules.apply_rules(
            session, model_version_id=model.version_id, video_ids=[s.video_id for s in summaries]
        )
    return len(summaries)


def video_tag_tree(
    db: Database, video_id: int, version_id: int | None = None, *, settings: Settings
) -> list[TagTree]:
    """The stored prediction of one video as a display tree (labels are full tag paths).

    Default version: the one that last predicted the video, else the active one. Tags below
    the storage floor count as probability 0.
    """
    with db.session() as session:
        video = videos_q.get_video(session, video_id=video_id)
    if version_id is None:
        version_id = video.predicted_model_id
    model = (
        registry.load_model(db, version_id, settings=settings)
        if version_id is not None
        else registry.load_active_model(db, settings=settings)
    )
    with db.session() as session:
        stored = models_q.get_predictions(
            session, video_id=video_id, model_version_id=model.version_id
        )
    column = {node_id: i for i, node_id in enumerate(model.metadata.node_ids)}
    proba = np.zeros(len(column))
    decisions = np.zeros(len(column), dtype=bool)
    for row in stored:
        if row.node_id in column:
            proba[column[row.node_id]] = row.probability
            decisions[column[row.node_id]] = row.is_predicted
    return tag_tree(proba, decisions, model.hierarchy, labels=model.metadata.node_paths)
