import json

import numpy as np
import pytest

from core.classifier.estimator import HierarchicalClassifier
from core.classifier.persistence import load_classifier, save_classifier


def test_round_trip_gives_identical_probabilities(tmp_path, synthetic, fast_params, tree_labels):
    rng = np.random.default_rng(0)
    X = {"text": synthetic.X[:, :5].copy(), "audio": synthetic.X[:, 5:].copy()}
    X["audio"][rng.random(len(synthetic.X)) < 0.3] = np.nan
    alternative = {"mlp_width": 32, "dropout": 0.2}
    clf = HierarchicalClassifier(
        **{**fast_params, "max_epochs": 3, "alternatives": (alternative,)}
    ).fit(X, synthetic.Y, hierarchy=synthetic.hierarchy)
    save_classifier(clf, tmp_path / "model", label_ids=tree_labels)

    loaded = load_classifier(tmp_path / "model")
    assert loaded.selected_settings_ == clf.selected_settings_
    assert loaded.settings_scores_ == clf.settings_scores_
    assert loaded.selection_win_rate_ == clf.selection_win_rate_
    assert loaded.threshold_floor_ == clf.threshold_floor_
    np.testing.assert_array_equal(loaded.node_thresholds_, clf.node_thresholds_)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert loaded.get_params() == clf.get_params()
    assert loaded.hierarchy_ == clf.hierarchy_
    assert loaded.label_ids_ == tree_labels
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["input_dims"] == {"audio": 3, "text": 5}
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]


def test_unfitted_and_missing_models_raise(tmp_path):
    with pytest.raises(ValueError, match="unfitted"):
        save_classifier(HierarchicalClassifier(), tmp_path)
    with pytest.raises(ValueError, match="does not hold a saved classifier"):
        load_classifier(tmp_path / "nothing")


def test_label_ids_must_match_nodes(tmp_path, synthetic, fast_params):
    clf = HierarchicalClassifier(**{**fast_params, "max_epochs": 1}).fit(
        synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    with pytest.raises(ValueError, match="label ids"):
        save_classifier(clf, tmp_path, label_ids=["only one"])


def _saved_by_an_older_version(
    directory, synthetic, fast_params, *, params: tuple[str, ...], fields: tuple[str, ...]
) -> HierarchicalClassifier:
    """Fit and save a small model, then drop what an older version did not write; the fit."""
    clf = HierarchicalClassifier(**{**fast_params, "max_epochs": 2}).fit(
        synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    save_classifier(clf, directory)
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())
    for name in params:
        del config["params"][name]
    for name in fields:
        del config[name]
    config_path.write_text(json.dumps(config))
    return clf


def test_model_saved_before_alternatives_existed_loads(tmp_path, synthetic, fast_params):
    clf = _saved_by_an_older_version(
        tmp_path / "model",
        synthetic,
        fast_params,
        params=("alternatives",),
        fields=("selected_settings", "settings_scores"),
    )
    loaded = load_classifier(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict_proba(synthetic.X), clf.predict_proba(synthetic.X))
    assert loaded.alternatives == () and loaded.selected_settings_ == {}


def test_model_saved_before_the_threshold_floor_predicts_as_it_did(
    tmp_path, synthetic, fast_params
):
    clf = _saved_by_an_older_version(
        tmp_path / "model",
        synthetic,
        fast_params,
        params=("threshold_floors",),
        fields=("node_thresholds", "threshold_floor"),
    )
    loaded = load_classifier(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict(synthetic.X), clf.predict(synthetic.X))
    assert loaded.threshold_floor_ == 0.0  # its thresholds, read as the per-node ones
    np.testing.assert_array_equal(loaded.node_thresholds_, clf.thresholds_)
