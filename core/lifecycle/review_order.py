"""The review queue's default order, "most informative first": coverage of the pool's topics
while the model is new, then BADGE, over the whole pool.

BADGE (k-means++ on the output layer's gradient embeddings, :func:`core.ranking.badge_order`)
was the best order at 60 % of the labels on almost every label set the active-learning
benchmark tried (docs/LABEL_QUALITY.md). At a cold start it trails even random order on the
demo corpus: a model that has seen a topic a few times cannot yet say what it is unsure of. So
while fewer labelled videos than ``review_cold_start_labels_per_tag`` per tag of the model's
label space are known, the head of the queue is chosen by coverage instead
(:mod:`core.lifecycle.coverage`, TypiClust on the videos' cached embeddings): the typical video of
each region of the pool that has the fewest labels. Not where the labelled videos show that
closeness in embedding space says little about the labels (their nearest neighbours share labels
less than ``review_cold_start_min_agreement`` beyond chance): there BADGE chooses from the start.

Either order chooses a batch, so it is computed once over the whole unreviewed pool, not video by
video: :func:`rank_review_pool` runs after every pool-wide prediction run (``predict_videos``
without explicit ids, ``predict_on_ray``), takes the videos waiting for review with a prediction
of the run's version, computes their gradient embeddings from the cached embeddings, orders them
(the first ``review_rank_badge_picks`` by k-means++ or by coverage, the rest by gradient length)
and stores each one's position as ``Video.review_rank``, clearing every other rank.

Videos predicted later one by one (after ingest) carry no rank until the next ranking: the queue
puts them after the ranked ones, least certain first, and the dashboard server ranks the pool
again once the first of them has waited ``rerank_after_s`` (:mod:`core.lifecycle.queue_ranking`).
So do videos that return to the queue after a review (a lead's reject, a second review): saving a
review clears the rank (``db.queries.labels.mark_reviewed``), as the video left the pool the rank
was chosen over. Each ranking is recorded with the time it read its pool.

Threads: the gradient pass runs with ``settings.torch_threads`` torch threads, as training does.

Progress: the three steps (gradients per ``RANK_BATCH`` videos, each BADGE or coverage pick, the
write) are reported to ``progress`` as :class:`core.lifecycle.progress.StepProgress` under the
names below.

Memory: the gradients are kept as low-rank factors (core/classifier/gradient.py),
``pool x members x (nodes + width)`` float32. Up to ``review_rank_memory_mb`` they are exact;
beyond it both factors are randomly projected to the widest common dimension that fits (at least
``MIN_PROJECTION_DIM``). At a cold start the pool's and the labelled videos' joint embeddings
are read too (core/lifecycle/coverage.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from core.classifier.gradient import GradientEmbedding
from core.config import Settings
from core.lifecycle import coverage, registry
from core.lifecycle.model_inputs import label_matrix, load_inputs
from core.lifecycle.progress import StepCallback, StepProgress
from core.ranking import badge_order, covers_first, then_by_gradient_length
from db.engine import Database
from db.queries import videos as videos_q
from db.tables import utcnow

RANK_SEED = 0  # one seed for the projection and the k-means++ draws: a rerun gives the same order
RANK_BATCH = 4096  # videos whose embeddings are read and turned into gradients at once
MIN_PROJECTION_DIM = 16
_FLOAT32_BYTES = 4
GRADIENTS_STEP = "ranking the review queue (gradients)"
PICKS_STEP = "ranking the review queue (BADGE picks)"
WRITE_STEP = "ranking the review queue (writing the ranks)"


def rank_review_pool(
    db: Database,
    *,
    model: registry.LoadedModel,
    settings: Settings,
    progress: StepCallback | None = None,
) -> int:
    """Order the version's unreviewed pool and store it as the queue's ranks; returns how many
    videos were ranked."""
    report = progress or _ignore
    # as training: threads beyond the free cores spin (20,000 videos on the 2 shared cores:
    # gradient pass 32.5 CPU s with torch's default two threads, 7.8 with one; same factors)
    torch.set_num_threads(settings.torch_threads)
    pool_read_at = utcnow()  # videos that reach the pool from now on wait for the next ranking
    with db.session() as session:
        pool = videos_q.review_pool_ids(session, model_version_id=model.version_id)
    ranked_ids: list[int] = []
    ranked_by = "badge"
    agreement: float | None = None  # measured at a cold start (coverage.labelled_evidence)
    found = pool_gradients(
        db,
        model=model,
        video_ids=pool,
        memory_mb=settings.review_rank_memory_mb,
        progress=lambda done, total: report(StepProgress(GRADIENTS_STEP, done, total)),
    )
    if found is not None:
        ids, gradients = found
        tags = model.classifier.hierarchy_.n_nodes
        labels = coverage.labels_if_fewer(
            db, than=coverage.labels_needed(settings.review_cold_start_labels_per_tag, tags)
        )
        evidence = None
        if labels is not None:
            evidence = _labelled_evidence(db, model, labels, settings)
            agreement = evidence.agreement
        cover = evidence is not None and evidence.cover
        step = coverage.PICKS_STEP if cover else PICKS_STEP
        ranked_by = "coverage" if cover else "badge"

        def picked(done: int, total: int) -> None:
            report(StepProgress(step, done, total, unit="picks"))

        picks = min(settings.review_rank_badge_picks, len(ids))
        picked(0, picks)
        if cover:
            order = _coverage_order(model, db, ids, gradients, evidence.points, picks, picked)
        else:
            rng = np.random.default_rng(RANK_SEED)
            order = badge_order(gradients, picks, rng, progress=picked)
        ranked_ids = [ids[i] for i in order]
    report(StepProgress(WRITE_STEP, 0, len(ranked_ids)))
    with db.session() as session:
        ranked = videos_q.set_review_ranks(
            session,
            model_version_id=model.version_id,
            ranked_ids=ranked_ids,
            pool_read_at=pool_read_at,
            ranked_by=ranked_by,
            neighbour_agreement=agreement,
        )
    report(StepProgress(WRITE_STEP, len(ranked_ids), len(ranked_ids)))
    return ranked


@dataclass(frozen=True)
class _LabelledEvidence:
    """What the labelled videos say at a cold start: their joint embeddings (None: none has
    embeddings of the model's encoder), whether coverage chooses the queue's head, and the
    neighbour agreement that decided it (None: too few labelled to measure)."""

    points: np.ndarray | None
    cover: bool
    agreement: float | None


def _labelled_evidence(
    db: Database, model: registry.LoadedModel, labels: dict[int, list[str]], settings: Settings
) -> _LabelledEvidence:
    """The labelled videos' joint embeddings and the cold start's decision
    (:func:`core.ranking.covers_first` on their labels as the model learns them: its tags, with
    ancestors)."""
    found = coverage.joint_points(
        db,
        encoder_key=_encoder_key(model),
        modalities=model.classifier.modalities_,
        video_ids=list(labels),
    )
    if found is None:
        return _LabelledEvidence(None, True, None)
    ids, points = found
    Y = label_matrix(
        labels, np.array(ids), model.metadata.node_ids, model.classifier.hierarchy_
    ).astype(np.float32)
    cover, agreement = covers_first(
        points,
        Y,
        model.classifier.hierarchy_.n_nodes,
        labels_per_tag=settings.review_cold_start_labels_per_tag,
        min_agreement=settings.review_cold_start_min_agreement,
    )
    return _LabelledEvidence(points, cover, agreement)


def _coverage_order(
    model: registry.LoadedModel,
    db: Database,
    ids: list[int],
    gradients: GradientEmbedding,
    labelled_points: np.ndarray | None,
    picks: int,
    progress: Callable[[int, int], None],
) -> np.ndarray:
    """The cold start's order of the pool ``ids`` (rows of ``gradients``): ``picks`` by
    coverage, then the rest by gradient length."""
    points = coverage.joint_points(
        db, encoder_key=_encoder_key(model), modalities=model.classifier.modalities_, video_ids=ids
    )
    if points is None or points[0] != ids:
        raise RuntimeError("the pool's embeddings changed while the queue was ranked")
    picked_rows = coverage.coverage_picks(points[1], labelled_points, picks, progress=progress)
    return then_by_gradient_length(picked_rows, gradients)


def _encoder_key(model: registry.LoadedModel) -> tuple[str, str]:
    return (model.metadata.encoder_id, model.metadata.encoder_version)


def pool_gradients(
    db: Database,
    *,
    model: registry.LoadedModel,
    video_ids: list[int],
    memory_mb: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[int], GradientEmbedding] | None:
    """The gradient factors of the videos that have embeddings of the model's encoder, read
    and computed ``RANK_BATCH`` at a time into arrays allocated once, and their ids in row
    order; None when none has. ``progress`` hears ``(videos done, pool size)`` before the
    first batch and after each."""
    classifier = model.classifier
    dim = projection_dim(
        rows=len(video_ids),
        members=len(classifier.network_),
        nodes=classifier.hierarchy_.n_nodes,
        width=classifier.network_[0].output_layer.in_features,
        budget_bytes=memory_mb * 2**20,
    )
    ids: list[int] = []
    residuals = hidden = np.empty(0, dtype=np.float32)
    if progress is not None:
        progress(0, len(video_ids))
    for start in range(0, len(video_ids), RANK_BATCH):
        batch = video_ids[start : start + RANK_BATCH]
        inputs = load_inputs(db, model=model, video_ids=batch)
        if inputs is not None:
            batch_ids, X = inputs
            part = classifier.predict_gradient_embedding(X, dim=dim, random_state=RANK_SEED)
            if not ids:
                residuals = _rows_for(part.residuals, len(video_ids))
                hidden = _rows_for(part.hidden, len(video_ids))
            rows = slice(len(ids), len(ids) + len(batch_ids))
            residuals[:, rows], hidden[:, rows] = part.residuals, part.hidden
            ids.extend(batch_ids)
        if progress is not None:
            progress(start + len(batch), len(video_ids))
    if not ids:
        return None
    return ids, GradientEmbedding(residuals[:, : len(ids)], hidden[:, : len(ids)])


def projection_dim(
    *, rows: int, members: int, nodes: int, width: int, budget_bytes: int
) -> int | None:
    """None (exact factors) when ``rows x members x (nodes + width)`` float32 fit the budget,
    else the projection dimension of both factors that does (never below
    ``MIN_PROJECTION_DIM``, so a huge pool may exceed the budget)."""
    if rows * members * (nodes + width) * _FLOAT32_BYTES <= budget_bytes:
        return None
    return max(MIN_PROJECTION_DIM, budget_bytes // (rows * members * 2 * _FLOAT32_BYTES))


def _ignore(_: StepProgress) -> None:
    """The progress callback of a caller that does not watch."""


def _rows_for(factor: np.ndarray, rows: int) -> np.ndarray:
    """An empty (members, rows, width) float32 array shaped like ``factor`` but for ``rows``."""
    return np.empty((factor.shape[0], rows, factor.shape[2]), dtype=np.float32)
