import numpy as np
import pytest

from core.classifier import decoding
from core.classifier.decoding import choose_threshold_floor, decode, fit_thresholds, tag_tree
from core.classifier.hierarchy import Hierarchy


def test_decode_keeps_most_specific_tags(tree, tree_labels):
    proba = np.array([0.9, 0.6, 0.8, 0.3, 0.55, 0.1])
    decisions = np.array([True, True, True, False, False, False])
    tags = decode(proba, decisions, tree, labels=tree_labels)
    # Sports is dropped (Soccer predicted); Music stays (no predicted child)
    assert [(t.label, t.probability) for t in tags] == [("Sports: Soccer", 0.8), ("Music", 0.6)]


def test_decode_in_dag_drops_every_ancestor():
    dag = Hierarchy([[], [0], [0], [1, 2], [2]])
    labels = ["A", "A/B", "A/C", "A/B+C/D", "A/C/E"]
    proba = np.array([0.9, 0.8, 0.85, 0.7, 0.6])
    decisions = np.array([True, True, True, True, True])
    tags = decode(proba, decisions, dag, labels=labels)
    assert [t.node for t in tags] == [3, 4]


def test_decode_checks_shapes(tree, tree_labels):
    with pytest.raises(ValueError, match="expected 6"):
        decode(np.zeros(5), np.zeros(5, dtype=bool), tree, labels=tree_labels)


def test_tag_tree_applies_floor_and_repeats_dag_nodes():
    dag = Hierarchy([[], [0], [0], [1, 2], [2]])
    labels = ["A", "B", "C", "D", "E"]
    proba = np.array([0.9, 0.5, 0.4, 0.3, 0.01])
    decisions = np.array([True, True, False, False, False])
    (root,) = tag_tree(proba, decisions, dag, labels=labels, display_floor=0.05)
    assert root.label == "A" and root.predicted
    b, c = root.children
    assert (b.label, c.label) == ("B", "C")
    assert [k.label for k in b.children] == ["D"] and [k.label for k in c.children] == [
        "D"
    ]  # E under floor
    assert not c.predicted


def test_fit_thresholds_monotone_and_fallback(tree):
    rng = np.random.default_rng(0)
    y = tree.close_upward(np.eye(6, dtype=bool)[rng.integers(2, 6, size=200)])
    y[:, 5] = False
    y[:3, 5] = True  # too few positives: Rock falls back to its level's threshold
    y = tree.close_upward(y)
    proba = np.clip(y * 0.6 + rng.random(y.shape) * 0.4, 0, 1)
    t = fit_thresholds(proba, y, tree, min_positives=5)
    for parent, child in tree.edges:
        assert t[parent] <= t[child]
    leaves = [2, 3, 4]
    assert all(0.4 <= t[c] <= 0.6 for c in leaves)  # separable: cut inside the gap
    assert 0.0 < t[5] < 1.0


def test_best_f1_threshold_by_hand():
    h = Hierarchy([[]])
    y = np.array([[1], [1], [0], [1], [0]], dtype=bool)
    proba = np.array([[0.9], [0.8], [0.7], [0.6], [0.1]])
    # cut after 0.6 gives F1 = 6/7 (3 TP, 1 FP) > cut after 0.8 (F1 = 0.8): midway to 0.1
    assert fit_thresholds(proba, y, h, min_positives=1)[0] == pytest.approx(0.35)


def _with_noise_tags(n_rows: int, n_noise: int, seed: int = 0):
    """One tag the model separates (positives 0.9, negatives 0.1) beside ``n_noise`` tags it
    cannot tell apart (every row scores below 0.01, positives at random), all under no parent."""
    rng = np.random.default_rng(seed)
    h = Hierarchy([[] for _ in range(1 + n_noise)])
    y = np.zeros((n_rows, 1 + n_noise), dtype=bool)
    y[:, 0] = rng.random(n_rows) < 0.3
    y[:, 1:] = rng.random((n_rows, n_noise)) < 0.1
    proba = np.empty(y.shape)
    proba[:, 0] = np.where(y[:, 0], 0.9, 0.1)
    proba[:, 1:] = rng.random((n_rows, n_noise)) * 0.01
    return proba, y, h


def test_the_floor_silences_tags_the_model_cannot_tell_apart():
    proba, y, h = _with_noise_tags(200, 8)
    node = fit_thresholds(proba, y, h, min_positives=5)
    assert (node[1:] < 0.01).all()  # each noise tag's F1-best cut: near 0, most rows predicted
    floor = choose_threshold_floor(proba, y, h, min_positives=5)
    # the lowest floor above every noise score: the separated tag's cut (0.5) is untouched
    assert floor == 0.02
    assert not (proba[:, 1:] >= np.maximum(node[1:], floor)).any()
    assert (proba[:, 0] >= np.maximum(node[0], floor)).sum() == y[:, 0].sum()


def test_no_floor_where_low_probabilities_still_separate():
    """Positives at 0.005-0.009, negatives below 0.004: a tag rare enough that the model never
    gives it much, yet ranked right. Every floor above 0 would drop it."""
    rng = np.random.default_rng(1)
    h = Hierarchy([[]])
    y = (rng.random(200) < 0.2)[:, None]
    proba = np.where(y, 0.005 + rng.random(y.shape) * 0.004, rng.random(y.shape) * 0.004)
    assert choose_threshold_floor(proba, y, h, min_positives=5) == 0.0


def test_the_floor_needs_enough_rows_and_a_choice():
    proba, y, h = _with_noise_tags(200, 8)
    assert choose_threshold_floor(proba[:19], y[:19], h) == 0.0  # halves too small to judge
    assert choose_threshold_floor(proba, y, h, floors=(0.3,)) == 0.3  # nothing to choose
    assert choose_threshold_floor(proba, y, h, floors=(0.2, 0.02, 0.5)) == 0.02  # any order


def test_a_sample_of_the_rows_chooses_the_floor_on_large_data(monkeypatch):
    proba, y, h = _with_noise_tags(400, 8)
    monkeypatch.setattr(decoding, "MAX_FLOOR_ROWS", 100)
    assert choose_threshold_floor(proba, y, h, min_positives=3) == 0.02
