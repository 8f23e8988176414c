"""The classifier's input (and, for labelled videos, its targets) for stored videos, from their
cached embeddings (no encoder runs): shared by training, evaluation, the promotion rule,
prediction and the review queue's ranking, which all read videos this way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core import review as review_rules
from core.classifier import Hierarchy
from core.lifecycle import registry
from db.engine import Database
from db.queries import embeddings as embeddings_q


@dataclass(frozen=True)
class LabelledInputs:
    """Labelled videos' classifier input and targets, row by row."""

    video_ids: np.ndarray
    X: dict[str, np.ndarray]
    Y: np.ndarray  # (n, the model's tags), closed under ancestors


def with_nan_rows(matrices: embeddings_q.EmbeddingMatrices) -> dict[str, np.ndarray]:
    """The classifier's input convention: a missing modality is an all-NaN row."""
    return {
        m: np.where(matrices.masks[m][:, None], matrices.matrices[m], np.nan).astype(np.float32)
        for m in matrices.matrices
    }


def label_matrix(
    labels: dict[int, list[str]], video_ids: np.ndarray, node_ids: list[str], hierarchy: Hierarchy
) -> np.ndarray:
    """``(n, n_nodes)`` targets closed under ancestors; tags outside ``node_ids`` are left out."""
    column = {node_id: i for i, node_id in enumerate(node_ids)}
    Y = np.zeros((len(video_ids), len(node_ids)), dtype=bool)
    for i, video_id in enumerate(video_ids.tolist()):
        for node_id in labels.get(video_id, []):
            if node_id in column:
                Y[i, column[node_id]] = True
    return hierarchy.close_upward(Y)


def load_inputs(
    db: Database, *, model: registry.LoadedModel, video_ids: list[int]
) -> tuple[list[int], dict[str, np.ndarray]] | None:
    """The classifier's input for the videos that have embeddings of the model's encoder
    (missing modalities are NaN rows); None when none has."""
    meta = model.metadata
    with db.session() as session:
        matrices = embeddings_q.load_matrices(
            session,
            encoder_id=meta.encoder_id,
            encoder_version=meta.encoder_version,
            modalities=model.classifier.modalities_,
            video_ids=video_ids,
        )
    if len(matrices.video_ids) == 0:
        return None
    return matrices.video_ids.tolist(), with_nan_rows(matrices)


def load_labelled(
    db: Database, *, model: registry.LoadedModel, video_ids: Sequence[int]
) -> LabelledInputs:
    """Input and targets (their effective labels, over the model's tags) of those of
    ``video_ids`` that are labelled and have embeddings of the model's encoder."""
    meta = model.metadata
    with db.session() as session:
        labels = review_rules.effective_labels(session, video_ids=list(video_ids))
        matrices = embeddings_q.load_matrices(
            session,
            encoder_id=meta.encoder_id,
            encoder_version=meta.encoder_version,
            modalities=model.classifier.modalities_,
            video_ids=list(labels),
        )
    return LabelledInputs(
        matrices.video_ids,
        with_nan_rows(matrices),
        label_matrix(labels, matrices.video_ids, meta.node_ids, model.hierarchy),
    )
