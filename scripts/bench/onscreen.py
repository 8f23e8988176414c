"""What the on-screen text modality adds to a trained model: the same training set, split and
seed, trained with and without it; validation micro AU(PRC) and hierarchical F1 side by side.

Run on a data dir whose videos were ingested with on-screen text on (the default), e.g. after
``TAGGER_DATA_DIR=DIR tagger demo --no-serve``:

    TAGGER_DATA_DIR=DIR python -m scripts.bench.onscreen
"""

from __future__ import annotations

import numpy as np
import torch

from core.classifier import HierarchicalClassifier
from core.classifier.metrics import evaluate
from core.config import get_settings
from core.lifecycle.training import (
    build_training_set,
    cached_encoder_key,
    default_classifier_params,
    split_indices,
)
from db.engine import get_database

MODALITY = "onscreen_text"


def main() -> None:
    settings = get_settings()
    db = get_database(settings)
    encoder_id, encoder_version = cached_encoder_key(db, settings)
    data = build_training_set(db, encoder_id=encoder_id, encoder_version=encoder_version)
    train, valid = split_indices(data.video_ids)
    X_train, Y_train = data.rows(train)
    X_valid, Y_valid = data.rows(valid)
    present = ~np.isnan(data.X[MODALITY]).all(axis=1) if MODALITY in data.X else np.zeros(0, bool)
    print(
        f"{len(data.video_ids)} labelled videos ({len(train)} train, {len(valid)} validation), "
        f"{int(present.sum())} with on-screen text, {len(data.node_ids)} tags"
    )
    torch.set_num_threads(settings.torch_threads)
    for name, keep in (("with on-screen text", True), ("without", False)):
        fit_x = {m: x for m, x in X_train.items() if keep or m != MODALITY}
        val_x = {m: x for m, x in X_valid.items() if keep or m != MODALITY}
        classifier = HierarchicalClassifier(
            device=settings.device, **default_classifier_params(len(data.video_ids))
        )
        classifier.fit(fit_x, Y_train, hierarchy=data.hierarchy)
        proba = classifier.predict_proba(val_x)
        metrics = evaluate(Y_valid, proba, proba >= classifier.thresholds_, data.hierarchy)
        print(
            f"{name:>20}: micro AU(PRC) {metrics['micro_auprc']:.4f}, "
            f"hierarchical F1 {metrics['hierarchical_f1']:.4f}"
        )


if __name__ == "__main__":
    main()
