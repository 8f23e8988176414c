"""Hierarchical multimodal classifier: hierarchy, estimator, decoding, metrics, persistence.

Public API::

    Hierarchy(parents)                                   # tree or DAG over node indices
    HierarchicalClassifier(**hyperparameters).fit(X, Y, hierarchy=h)
    clf.predict_proba(X) / clf.predict(X)                # consistent probabilities / decisions
    clf.predict_gradient_embedding(X)                    # GradientEmbedding (active learning)
    decode(proba_row, decision_row, h, labels=...)       # most specific tags
    tag_tree(proba_row, decision_row, h, labels=...)     # display tree
    evaluate(y_true, proba, decisions, h)                # metrics dict
    save_classifier(clf, directory, label_ids=...) / load_classifier(directory)
"""

from core.classifier.decoding import (
    TagPrediction,
    TagTree,
    choose_threshold_floor,
    decode,
    fit_thresholds,
    most_specific,
    tag_tree,
)
from core.classifier.estimator import HierarchicalClassifier
from core.classifier.gradient import GradientEmbedding
from core.classifier.hierarchy import Hierarchy
from core.classifier.metrics import evaluate, hierarchical_prf, micro_auprc, per_level_f1
from core.classifier.persistence import load_classifier, save_classifier

__all__ = [
    "GradientEmbedding",
    "HierarchicalClassifier",
    "Hierarchy",
    "TagPrediction",
    "TagTree",
    "choose_threshold_floor",
    "decode",
    "evaluate",
    "fit_thresholds",
    "hierarchical_prf",
    "load_classifier",
    "micro_auprc",
    "most_specific",
    "per_level_f1",
    "save_classifier",
    "tag_tree",
]
