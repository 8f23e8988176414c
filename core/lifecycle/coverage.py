"""The review queue's coverage order: TypiClust on the videos' cached embeddings, for the cold
start, when too few videos are labelled for any model's uncertainty to be trusted.

Two callers. :func:`core.lifecycle.review_order.rank_review_pool` uses it under a model while
fewer labelled videos than ``review_cold_start_labels_per_tag`` per tag of the model's label space
are known, unless the labelled videos show that neighbours in embedding space share their labels
no more than ``review_cold_start_min_agreement`` beyond chance (decided there): covering the
embedding space's regions would then spend labels on distinctions the labels do not follow.
:func:`rank_before_first_model` uses it before any model exists, after each ingest run (``tagger
ingest``, the dashboard's ingest job) and when the server ranks videos uploaded one at a time
(:mod:`core.lifecycle.queue_ranking`): a new team's first labels then cover the kinds of content
in its pool instead of following upload order (no model: nothing else could choose).
``review_cold_start_labels_per_tag`` = 0 turns both off.

Distances: each modality's unit vector side by side (:func:`core.ranking.joint_embedding`),
randomly projected to ``COVERAGE_DIM`` columns as they are read, ``READ_BATCH`` videos at a time
(100,000 videos: 51 MB as float32). Torch is not imported here: a Ray driver ingests without it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlmodel import Session

from core.config import Settings
from core.encoders import MODALITIES
from core.lifecycle.progress import StepCallback, StepProgress
from core.ranking import PickProgress, joint_embedding, typical_clusters
from core.review import count_labelled_videos, effective_labels
from core.taxonomy import load_from_db
from db.engine import Database
from db.queries import embeddings as embeddings_q
from db.queries import model_versions as models_q
from db.queries import videos as videos_q
from db.tables import ModelVersion, utcnow

COVERAGE_SEED = 0  # one seed for the projection and the k-means: a rerun gives the same order
COVERAGE_DIM = 128  # k-means distances in the projected joint embedding space
READ_BATCH = 4096  # videos whose embeddings are read and projected at once
PICKS_STEP = "ranking the review queue (coverage picks)"


def joint_points(
    db: Database, *, encoder_key: tuple[str, str], modalities: Sequence[str], video_ids: list[int]
) -> tuple[list[int], np.ndarray] | None:
    """The ids of the videos that have embeddings of the encoder and their joint embeddings, one
    layout for every batch and call (each modality's place fixed by the encoder's dims), projected
    (seeded, so all share one projection) when wider than ``COVERAGE_DIM``; None when none has."""
    encoder_id, encoder_version = encoder_key
    with db.session() as session:
        dims = embeddings_q.embedding_dims(
            session, encoder_id=encoder_id, encoder_version=encoder_version, modalities=modalities
        )
    ids: list[int] = []
    parts: list[np.ndarray] = []
    for start in range(0, len(video_ids), READ_BATCH):
        with db.session() as session:
            matrices = embeddings_q.load_matrices(
                session,
                encoder_id=encoder_id,
                encoder_version=encoder_version,
                modalities=list(dims),
                video_ids=video_ids[start : start + READ_BATCH],
            )
        n = len(matrices.video_ids)
        if n == 0:
            continue
        # every modality in its place, also where no video of this batch has it (NaN: missing)
        X = {m: np.full((n, dim), np.nan, dtype=np.float32) for m, dim in dims.items()}
        for m, matrix in matrices.matrices.items():
            X[m] = np.where(matrices.masks[m][:, None], matrix, np.nan)
        joint = joint_embedding(X)
        if joint.shape[1] > COVERAGE_DIM:
            joint = joint @ projection(joint.shape[1])
        parts.append(joint.astype(np.float32))
        ids.extend(matrices.video_ids.tolist())
    return (ids, np.concatenate(parts)) if ids else None


def projection(width: int) -> np.ndarray:
    """A Gaussian (width, COVERAGE_DIM) projection: it keeps cosine distances approximately."""
    rng = np.random.default_rng(COVERAGE_SEED)
    return rng.standard_normal((width, COVERAGE_DIM)) / np.sqrt(COVERAGE_DIM)


@dataclass(frozen=True)
class ColdStart:
    """The queue is in its cold start: ``labelled`` videos are known, ``needed`` end it.
    ``badge_agreement``: the neighbour agreement for which the active version's last ranking
    chose BADGE all the same (None: it covered, or there is no model yet)."""

    labelled: int
    needed: int
    model_active: bool
    badge_agreement: float | None = None


def cold_start(db: Database, *, settings: Settings) -> ColdStart | None:
    """Where the review queue stands while its head is chosen by coverage; None once the
    labelled videos reach ``review_cold_start_labels_per_tag`` x the label space (the active
    model's tags; before any model, the tags a first one would learn: the labels' tags and their
    ancestors), when the setting is 0, or when the active version predates recording its tags.
    Before a model, reaching it means: train one (an import with many labels, for instance)."""
    per_tag = settings.review_cold_start_labels_per_tag
    if per_tag <= 0:
        return None
    badge_agreement = None
    with db.session() as session:
        active = models_q.get_active_model(session)
        if active is None:
            labels = effective_labels(session)
            labelled, needed = len(labels), _needed_before_first_model(session, labels, per_tag)
        else:
            version_needs = labels_needed_by(active, per_tag)
            if version_needs is None:
                return None
            labelled, needed = count_labelled_videos(session), version_needs
            last = videos_q.get_queue_ranking(session)
            if (
                last is not None
                and last.model_version_id == active.id
                and last.ranked_by == "badge"
            ):
                badge_agreement = last.neighbour_agreement
    if labelled >= needed:
        return None
    return ColdStart(labelled, needed, active is not None, badge_agreement)


def labels_needed(per_tag: float, tags: int) -> int:
    """Labelled videos that end the cold start of a label space of ``tags`` tags."""
    return math.ceil(per_tag * tags)


def labels_needed_by(version: ModelVersion, per_tag: float) -> int | None:
    """Labelled videos that end the cold start of ``version``'s label space; None for a version
    trained before its label space (``n_tags``) was recorded."""
    tags = json.loads(version.metrics_json or "{}").get("n_tags")
    return None if tags is None else labels_needed(per_tag, tags)


def labels_if_fewer(db: Database, *, than: int) -> dict[int, list[str]] | None:
    """The labelled videos' labels (what training learns from: a review, or imported labels)
    while they number fewer than ``than``; None once they do. Counted first, in one query: a
    grown-up deployment has many labelled videos and is long past its cold start."""
    with db.session() as session:
        if count_labelled_videos(session) >= than:
            return None
        return effective_labels(session)


def coverage_picks(
    pool_points: np.ndarray,
    labelled_points: np.ndarray | None,
    picks: int,
    progress: PickProgress | None = None,
) -> np.ndarray:
    """Rows of ``pool_points`` (the pool's :func:`joint_points`) that TypiClust picks
    (:func:`core.ranking.typical_clusters`), given the labelled videos' (None: none)."""
    return typical_clusters(
        pool_points,
        picks,
        np.random.default_rng(COVERAGE_SEED),
        labelled=labelled_points,
        progress=progress,
    )


def rank_before_first_model(
    db: Database, *, settings: Settings, progress: StepCallback | None = None
) -> int:
    """While no model is active: the first ``review_rank_badge_picks`` processed videos (status
    ready) with embeddings of the configured encoder's most cached version, chosen by coverage,
    become the queue's ranks (every other rank is cleared); returns how many. Nothing happens
    (0) once a model is active, whose prediction runs rank the queue, or outside the cold start
    (:func:`cold_start`)."""
    per_tag = settings.review_cold_start_labels_per_tag
    if per_tag <= 0:
        return 0
    pool_read_at = utcnow()  # videos that reach the pool from now on wait for the next ranking
    with db.session() as session:  # the rule of cold_start, with the labels read once
        if models_q.get_active_model(session) is not None:
            return 0
        labels = effective_labels(session)
        if len(labels) >= _needed_before_first_model(session, labels, per_tag):
            return 0
        versions = embeddings_q.encoder_versions(session, encoder_id=settings.encoder)
        ready_ids = videos_q.unpredicted_pool_ids(session)
    if not versions:
        return 0
    labelled_ids = list(labels)
    encoder_key = (settings.encoder, versions[0][0])
    found = joint_points(db, encoder_key=encoder_key, modalities=MODALITIES, video_ids=ready_ids)
    ranked_ids: list[int] = []
    if found is not None:
        pool_ids, pool_points = found
        picks = min(settings.review_rank_badge_picks, len(pool_ids))

        def picked(done: int, total: int) -> None:
            if progress is not None:
                progress(StepProgress(PICKS_STEP, done, total, unit="picks"))

        picked(0, picks)
        labelled = joint_points(
            db, encoder_key=encoder_key, modalities=MODALITIES, video_ids=labelled_ids
        )
        order = coverage_picks(
            pool_points, None if labelled is None else labelled[1], picks, progress=picked
        )
        ranked_ids = [pool_ids[i] for i in order]
    with db.session() as session:
        return videos_q.set_review_ranks(
            session,
            model_version_id=None,
            ranked_ids=ranked_ids,
            pool_read_at=pool_read_at,
            ranked_by="coverage",
        )


def _needed_before_first_model(
    session: Session, labels: dict[int, list[str]], per_tag: float
) -> int:
    """Labelled videos that end the cold start before any model: ``per_tag`` x the tags a model
    trained on ``labels`` would learn (theirs and their ancestors; at least one)."""
    tags = {node for nodes in labels.values() for node in nodes}
    if tags:
        taxonomy = load_from_db(session)
        tags |= {a.id for node in tags for a in taxonomy.ancestors(node)}
    return labels_needed(per_tag, max(len(tags), 1))
