"""The classifier's input for stored videos, from their cached embeddings (no encoder runs):
shared by prediction and by the review queue's ranking, which both read the pool this way."""

from __future__ import annotations

import numpy as np

from core.lifecycle import registry
from db.engine import Database
from db.queries import embeddings as embeddings_q


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
    X = {
        m: np.where(matrices.masks[m][:, None], matrices.matrices[m], np.nan)
        for m in matrices.matrices
    }
    return matrices.video_ids.tolist(), X
