"""A small trained catalogue for end-to-end tests: no corpus is ingested, yet the product's own
code trains and serves a real model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core import taxonomy as taxonomy_core
from core.config import Settings
from core.encoders import load_encoder
from core.lifecycle import training
from db.engine import get_database, init_db
from db.queries import embeddings, labels, videos
from db.tables import VideoStatus

# small enough to train in seconds on two cores
FAST_TRAINING = {
    "n_ensemble": 1,
    "max_epochs": 30,
    "patience": 5,
    "d_model": 32,
    "n_heads": 2,
    "n_layers": 1,
    "mlp_width": 64,
}


def trained_catalogue(settings: Settings, *, leaves: Sequence[str], n_videos: int) -> list[int]:
    """The IAB taxonomy; ``n_videos`` ready videos, each labelled (imported) with one of
    ``leaves`` in turn, whose title and frame vectors (synthetic, under the configured encoder's
    cache key) cluster by leaf; and an active model trained on them. Returns the video ids."""
    db = get_database(settings)
    init_db(db)
    tax = taxonomy_core.load_iab3()
    with db.session() as s:
        taxonomy_core.save_to_db(s, tax)
    encoder = load_encoder(settings)
    rng = np.random.default_rng(0)
    ids = []
    with db.session() as s:
        for i in range(n_videos):
            leaf = i % len(leaves)
            video = videos.create_video(s, title=f"seed {i}", status=VideoStatus.READY)
            embeddings.put_embeddings(
                s,
                records=[
                    embeddings.EmbeddingRecord(
                        video.id,
                        m,
                        *encoder.cache_key,
                        f"{m}{i}",
                        (rng.standard_normal(encoder.dims[m]) + 3 * leaf).astype(np.float32),
                    )
                    for m in ("title", "frames")
                ],
            )
            labels.import_labels(s, labels=[(video.id, tax.find(leaves[leaf]).id)])
            ids.append(video.id)
    training.train_model(db, settings=settings, user=None, activate=True, params=FAST_TRAINING)
    return ids
