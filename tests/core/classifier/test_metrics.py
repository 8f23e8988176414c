import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from core.classifier.hierarchy import Hierarchy
from core.classifier.metrics import (
    default_eval_nodes,
    evaluate,
    hierarchical_prf,
    micro_auprc,
    micro_average_precision,
    per_level_f1,
)


def test_fast_micro_ap_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random((60, 7)) < 0.2
    scores = np.round(rng.random((60, 7)) + 0.4 * y, 1)  # rounding creates many ties
    assert micro_average_precision(y, scores) == pytest.approx(
        average_precision_score(y, scores, average="micro")
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=1, max_size=60),
    st.sampled_from([np.float32, np.float64]),
)
def test_fast_micro_ap_equals_sklearn_property(pairs, dtype):
    y = np.array([[label for label, _ in pairs]])
    scores = np.array([[level / 6 for _, level in pairs]], dtype=dtype)  # few levels: many ties
    assume(y.any())
    assert micro_average_precision(y, scores) == pytest.approx(
        average_precision_score(y.ravel(), scores.ravel())
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_micro_auprc_is_sklearns_micro_average_over_the_scored_nodes(dtype):
    """The HMC benchmark score is scikit-learn's (C-HMCNN's protocol), computed faster."""
    rng = np.random.default_rng(1)
    y = rng.random((200, 30)) < 0.1
    proba = (np.round(rng.random((200, 30)) + 0.3 * y, 2) / 1.3).astype(dtype)  # many ties
    nodes = np.flatnonzero(rng.random(30) < 0.7)
    expected = average_precision_score(y[:, nodes], proba[:, nodes], average="micro")
    assert micro_auprc(y, proba, nodes=nodes) == pytest.approx(expected, rel=1e-12)


def test_micro_ap_by_hand():
    # ranking: 0.9 (pos), 0.8 (neg), 0.7 (pos) -> AP = 1/2 * 1 + 1/2 * 2/3
    y = np.array([[1, 0, 1]], dtype=bool)
    s = np.array([[0.9, 0.8, 0.7]])
    assert micro_average_precision(y, s) == pytest.approx(0.5 + 1 / 3)
    assert micro_auprc(y, s) == pytest.approx(0.5 + 1 / 3)
    with pytest.raises(ValueError, match="positive"):
        micro_average_precision(np.zeros((1, 3), dtype=bool), s)


def test_micro_auprc_ignores_unscored_columns():
    y = np.array([[1, 1, 0], [1, 0, 1]], dtype=bool)
    s = np.array([[0.0, 0.9, 0.1], [0.0, 0.2, 0.8]])  # column 0 (a root) would spoil the score
    assert micro_auprc(y, s, nodes=np.array([1, 2])) == pytest.approx(1.0)


def test_hierarchical_prf_by_hand(tree):
    # true: Sports: Soccer (-> {Sports, Soccer}); predicted: Sports: Tennis (-> {Sports, Tennis})
    y = np.zeros((1, 6), dtype=bool)
    y[0, 2] = True
    d = np.zeros((1, 6), dtype=bool)
    d[0, 3] = True
    p, r, f = hierarchical_prf(y, d, tree)
    assert (p, r, f) == pytest.approx((0.5, 0.5, 0.5))
    assert hierarchical_prf(y, np.zeros_like(d), tree) == (0.0, 0.0, 0.0)


def test_per_level_f1_by_hand(tree):
    y = tree.close_upward(np.eye(6, dtype=bool)[[2, 4]])  # Soccer, Jazz
    d = tree.close_upward(np.eye(6, dtype=bool)[[2, 5]])  # Soccer, Rock
    scores = per_level_f1(y, d, tree)
    assert scores[0] == pytest.approx(1.0)  # Sports and Music both right
    assert scores[1] == pytest.approx(0.5)  # 1 TP, 1 FP, 1 FN


def test_default_eval_nodes_drop_only_a_single_catch_all_root(tree):
    assert default_eval_nodes(tree).tolist() == list(range(6))
    assert default_eval_nodes(Hierarchy([[], [0], [0]])).tolist() == [1, 2]


def test_evaluate_reports_everything_and_counts_violations(tree):
    y = tree.close_upward(np.eye(6, dtype=bool)[[2, 5]])
    proba = np.where(y, 0.8, 0.1)
    proba[1, 4] = 0.9  # child above its parent (Music 0.8)
    result = evaluate(y, proba, proba >= 0.5, tree)
    assert result["violations"] == 1
    assert {"micro_auprc", "hierarchical_f1", "f1_level_0", "f1_level_1"} <= set(result)
