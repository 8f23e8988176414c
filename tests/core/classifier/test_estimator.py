import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from core.classifier.decoding import THRESHOLD_FLOORS
from core.classifier.estimator import HierarchicalClassifier
from core.classifier.metrics import micro_auprc


def _modalities(
    X: np.ndarray, rng: np.random.Generator, missing: float = 0.3
) -> dict[str, np.ndarray]:
    """Split 8 features into two modalities of different widths; hide some rows of each."""
    text, frames = X[:, :5].copy(), np.c_[X[:, 5:], rng.normal(size=(len(X), 4))].astype(np.float32)
    hide_text = rng.random(len(X)) < missing
    hide_frames = (rng.random(len(X)) < missing) & ~hide_text
    text[hide_text] = np.nan
    frames[hide_frames] = np.nan
    return {"text": text, "frames": frames}


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError):
        HierarchicalClassifier().predict_proba(np.zeros((1, 3)))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"trunk": "cnn"}, "trunk must be one of"),
        ({"selection_confidence": 1.5}, "selection_confidence must be in"),
        ({"race_margin": -0.1}, "race_margin must be"),
        ({"large_ensemble": 1}, "large_ensemble must be >= 2 or None"),
    ],
)
def test_invalid_hyperparameters_are_refused(synthetic, params, message):
    with pytest.raises(ValueError, match=message):
        HierarchicalClassifier(**params).fit(
            synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
        )


def test_learns_synthetic_hierarchy_well_above_chance(make_synthetic, fast_params):
    train, test = make_synthetic(400, seed=0), make_synthetic(300, seed=1)
    clf = HierarchicalClassifier(**fast_params, random_state=0).fit(
        train.X, train.Y, hierarchy=train.hierarchy
    )
    proba = clf.predict_proba(test.X)
    chance = test.Y.mean()  # AU(PRC) of a random ranking
    assert chance < 0.4
    assert micro_auprc(test.Y, proba) > 0.85
    assert train.hierarchy.violations(proba) == 0
    assert clf.config_.trunk == "mlp"
    assert len(clf.network_) == 2 and len(clf.history_) == 2


def test_thresholds_respect_hierarchy(synthetic, fast_params):
    h = synthetic.hierarchy
    clf = HierarchicalClassifier(**fast_params).fit(synthetic.X, synthetic.Y, hierarchy=h)
    for parent, child in h.edges:
        assert clf.thresholds_[parent] <= clf.thresholds_[child]
    decisions = clf.predict(synthetic.X)
    assert decisions.dtype == bool
    np.testing.assert_array_equal(h.close_upward(decisions), decisions)


def test_same_seed_same_probabilities(synthetic, fast_params):
    params = {**fast_params, "max_epochs": 4}
    a = HierarchicalClassifier(**params, random_state=7).fit(
        synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    b = HierarchicalClassifier(**params, random_state=7).fit(
        synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    c = HierarchicalClassifier(**params, random_state=8).fit(
        synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    np.testing.assert_array_equal(a.predict_proba(synthetic.X), b.predict_proba(synthetic.X))
    assert not np.array_equal(a.predict_proba(synthetic.X), c.predict_proba(synthetic.X))


def test_member_probabilities_average_to_the_ensemble(synthetic, fast_params):
    params = {**fast_params, "max_epochs": 3, "n_ensemble": 3}
    clf = HierarchicalClassifier(**params).fit(
        synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    members = clf.predict_member_proba(synthetic.X[:20])
    assert members.shape == (3, 20, synthetic.hierarchy.n_nodes)
    assert not np.array_equal(members[0], members[1])  # distinct members: a real committee
    np.testing.assert_allclose(members.mean(axis=0), clf.predict_proba(synthetic.X[:20]), atol=1e-6)


def test_multimodal_with_missing_rows_and_different_dims(make_synthetic, fast_params):
    rng = np.random.default_rng(0)
    train, test = make_synthetic(400, seed=0), make_synthetic(200, seed=1)
    events = []
    clf = HierarchicalClassifier(**fast_params).fit(
        _modalities(train.X, rng), train.Y, hierarchy=train.hierarchy, progress=events.append
    )
    assert clf.config_.trunk == "transformer"
    assert clf.input_dims_ == {"frames": 7, "text": 5}
    assert events and {"member", "epoch", "train_loss", "valid_ap"} <= set(events[0])
    X_test = _modalities(test.X, rng)
    proba = clf.predict_proba(X_test)
    assert test.hierarchy.violations(proba) == 0
    assert micro_auprc(test.Y, proba) > 2 * test.Y.mean()


def test_missing_modality_is_masked_not_imputed(synthetic, fast_params):
    rng = np.random.default_rng(1)
    X = _modalities(synthetic.X, rng)
    clf = HierarchicalClassifier(**{**fast_params, "max_epochs": 3}).fit(
        X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    text_only = {
        "text": X["text"][:20].copy(),
        "frames": np.full((20, 7), np.nan, dtype=np.float32),
    }
    text_only["text"][np.isnan(text_only["text"]).all(axis=1)] = 0.5
    # an omitted modality and an all-NaN one are the same "missing"; per-row results do not
    # depend on what else is in the batch
    np.testing.assert_allclose(
        clf.predict_proba(text_only), clf.predict_proba({"text": text_only["text"]})
    )
    np.testing.assert_allclose(
        clf.predict_proba({"text": text_only["text"][:5]}),
        clf.predict_proba(text_only)[:5],
        rtol=1e-6,
    )


def test_row_with_every_modality_missing_is_named(synthetic, fast_params):
    rng = np.random.default_rng(1)
    X = _modalities(synthetic.X, rng)
    clf = HierarchicalClassifier(**{**fast_params, "max_epochs": 2}).fit(
        X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    bad = {k: v[:5].copy() for k, v in X.items()}
    bad["text"][3] = np.nan
    bad["frames"][3] = np.nan
    with pytest.raises(ValueError, match="row 3 has every modality missing"):
        clf.predict_proba(bad)
    partial = {k: v[:5].copy() for k, v in X.items()}
    partial["frames"][1] = 0.0
    partial["frames"][1, 0] = np.nan
    with pytest.raises(ValueError, match="row 1 is partly NaN"):
        clf.predict_proba(partial)


def test_input_shape_errors(synthetic, fast_params):
    clf = HierarchicalClassifier(**{**fast_params, "max_epochs": 1}).fit(
        synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    with pytest.raises(ValueError, match="expects 8"):
        clf.predict_proba(synthetic.X[:, :5])
    with pytest.raises(ValueError, match="unknown modalities"):
        clf.predict_proba({"audio": synthetic.X})
    with pytest.raises(ValueError, match="labels must have shape"):
        HierarchicalClassifier().fit(synthetic.X, synthetic.Y[:, :3], hierarchy=synthetic.hierarchy)


def test_given_validation_set_is_used(make_synthetic, fast_params):
    train, valid = make_synthetic(300, seed=0), make_synthetic(100, seed=2)
    clf = HierarchicalClassifier(**{**fast_params, "max_epochs": 3}).fit(
        train.X, train.Y, hierarchy=train.hierarchy, X_valid=valid.X, Y_valid=valid.Y
    )
    assert len(clf.history_[0]) == 3
    assert clf.validation_metrics_["micro_auprc"] == pytest.approx(
        micro_auprc(valid.Y, clf.predict_proba(valid.X))
    )
    with pytest.raises(ValueError, match="both X_valid and Y_valid"):
        clf.fit(train.X, train.Y, hierarchy=train.hierarchy, X_valid=valid.X)


def test_alternative_settings_compete_on_the_first_split(synthetic, fast_params):
    # a learning rate too small to learn anything loses, whether it is the default or the
    # alternative; the winner trains every member and its network shape is the model's
    frozen, working = {"lr": 1e-9}, {"lr": 3e-3, "mlp_width": 48}
    fit = lambda **params: HierarchicalClassifier(**{**fast_params, **params}).fit(
        synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    switched = fit(**frozen, alternatives=(working,))
    assert switched.selected_settings_ == working
    assert switched.config_.mlp_width == 48
    assert all(net.trunk.layers[0].out_features == 48 for net in switched.network_)
    assert len(switched.network_) == fast_params["n_ensemble"]
    first, second = switched.settings_scores_
    assert (first["settings"], second["settings"]) == ({}, working)
    assert second["valid_ap"] > first["valid_ap"]
    assert switched.selection_win_rate_ == 1.0  # better on every resample of the validation rows

    kept = fit(alternatives=(frozen,))
    assert kept.selected_settings_ == {}
    assert kept.config_.mlp_width == fast_params["mlp_width"]
    assert kept.settings_scores_[0]["valid_ap"] > kept.settings_scores_[1]["valid_ap"]
    assert kept.selection_win_rate_ is None


def test_an_alternative_trailing_when_the_defaults_stop_is_given_up(synthetic, fast_params):
    # a network that learns nothing but would wait out a long patience is stopped where the
    # defaults' first member stopped; the model is the one a full race would have chosen
    fit = lambda **params: HierarchicalClassifier(
        **{**fast_params, "max_epochs": 40, "alternatives": ({"lr": 1e-9, "patience": 40},)},
        **params,
    ).fit(synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy)
    raced, full = fit(), fit(race_margin=None)
    hopeless = raced.settings_scores_[1]
    assert raced.selected_settings_ == full.selected_settings_ == {}
    assert hopeless["given_up_at_epoch"] == len(raced.history_[0]) - 1 < 39
    assert "given_up_at_epoch" not in full.settings_scores_[1]
    assert hopeless["valid_ap"] < full.settings_scores_[1]["valid_ap"] + 1e-9
    np.testing.assert_array_equal(raced.predict_proba(synthetic.X), full.predict_proba(synthetic.X))


def test_a_lead_within_validation_noise_goes_to_a_second_round(synthetic, fast_params):
    # a slightly narrower network leads on the first slice, but on only about half the
    # resamples: both train their second member and the two slices together decide
    fit = lambda **params: HierarchicalClassifier(**{**fast_params, **params}).fit(
        synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    close = {"mlp_width": fast_params["mlp_width"] - 4}
    clf = fit(alternatives=(close,))
    defaults, alternative = clf.settings_scores_
    assert alternative["valid_ap"] > defaults["valid_ap"]
    assert clf.selection_win_rate_ < clf.selection_confidence
    assert {"valid_ap_two_slices"} <= defaults.keys() & alternative.keys()
    won = alternative["valid_ap_two_slices"] > defaults["valid_ap_two_slices"]
    assert clf.selected_settings_ == (close if won else {})
    assert len(clf.network_) == fast_params["n_ensemble"]
    assert clf.config_.mlp_width == (close if won else fast_params)["mlp_width"]
    # without the second round (confidence 0) the first slice's leader wins at once
    hasty = fit(alternatives=(close,), selection_confidence=0.0)
    assert hasty.selected_settings_ == close
    assert all("valid_ap_two_slices" not in s for s in hasty.settings_scores_)


def test_wider_alternatives_are_skipped_on_large_label_matrices(synthetic, fast_params):
    n_cells = synthetic.Y.shape[0] * synthetic.Y.shape[1]
    wider = {"mlp_width": fast_params["mlp_width"] * 2}
    narrower = {"mlp_width": fast_params["mlp_width"] // 2, "lr": 1e-2}
    fit = lambda max_cells: HierarchicalClassifier(
        **{**fast_params, "alternatives": (wider, narrower), "alternatives_max_cells": max_cells}
    ).fit(synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy)
    assert [s["settings"] for s in fit(n_cells - 1).settings_scores_] == [{}, narrower]
    assert [s["settings"] for s in fit(n_cells).settings_scores_] == [{}, wider, narrower]


def test_large_label_matrices_keep_the_first_members_of_the_full_ensemble(synthetic, fast_params):
    # the cap applies only above alternatives_max_cells; the members kept are the full
    # ensemble's first ones (same splits and seeds), so the choice and those members are equal
    n_cells = synthetic.Y.shape[0] * synthetic.Y.shape[1]
    fit = lambda **params: HierarchicalClassifier(
        **{**fast_params, "n_ensemble": 4, "alternatives": ({"mlp_width": 32},), **params}
    ).fit(synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy)
    full = fit(alternatives_max_cells=n_cells - 1)
    capped = fit(alternatives_max_cells=n_cells - 1, large_ensemble=3)
    small = fit(alternatives_max_cells=n_cells, large_ensemble=3)
    assert len(full.network_) == len(small.network_) == 4
    assert len(capped.network_) == len(capped.history_) == len(capped.best_epochs_) == 3
    assert capped.settings_scores_ == full.settings_scores_
    assert capped.selected_settings_ == full.selected_settings_
    np.testing.assert_array_equal(
        capped.predict_member_proba(synthetic.X), full.predict_member_proba(synthetic.X)[:3]
    )
    np.testing.assert_array_equal(small.predict_proba(synthetic.X), full.predict_proba(synthetic.X))
    assert synthetic.hierarchy.violations(capped.predict_proba(synthetic.X)) == 0
    assert (
        capped.predict(synthetic.X) == (capped.predict_proba(synthetic.X) >= capped.thresholds_)
    ).all()


def test_a_lead_on_a_large_label_matrix_wins_without_a_second_round(synthetic, fast_params):
    # a close lead: on a small matrix the second round confirms the leader; on a large one the
    # leader wins at once, and its second member, trained with the rest of the ensemble instead
    # of in the second round, is the same network: the same model
    close = {"mlp_width": fast_params["mlp_width"] - 4, "lr": 4e-3}
    fit = lambda max_cells: HierarchicalClassifier(
        **{**fast_params, "n_ensemble": 3, "alternatives": (close,)},
        alternatives_max_cells=max_cells,
        random_state=3,  # a seed where the leader's lead is within the noise, then confirmed
    ).fit(synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy)
    n_cells = synthetic.Y.shape[0] * synthetic.Y.shape[1]
    small, large = fit(n_cells), fit(n_cells - 1)
    assert small.selection_win_rate_ < small.selection_confidence
    assert small.selected_settings_ == close  # the second round confirmed the leader
    assert all("valid_ap_two_slices" in s for s in small.settings_scores_)
    assert large.selection_win_rate_ == small.selection_win_rate_
    assert large.selected_settings_ == close
    assert all("valid_ap_two_slices" not in s for s in large.settings_scores_)
    assert len(large.network_) == 3
    np.testing.assert_array_equal(
        large.predict_member_proba(synthetic.X), small.predict_member_proba(synthetic.X)
    )
    np.testing.assert_array_equal(large.thresholds_, small.thresholds_)


@pytest.mark.parametrize(
    ("alternative", "message"),
    [
        ({"n_ensemble": 3}, "may only change per-network settings"),
        ({"alternatives": ()}, "may only change per-network settings"),
        ({"large_ensemble": 2}, "may only change per-network settings"),
        ({"dropout": 0.5, "patience": 0}, "patience must be >= 1"),
        ({"selection_confidence": 0.5}, "may only change per-network settings"),
    ],
)
def test_invalid_alternatives_are_refused(synthetic, fast_params, alternative, message):
    with pytest.raises(ValueError, match=message):
        HierarchicalClassifier(**{**fast_params, "alternatives": (alternative,)}).fit(
            synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
        )


def test_sklearn_clone_keeps_hyperparameters():
    clf = HierarchicalClassifier(d_model=64, n_ensemble=3)
    assert clone(clf).get_params() == clf.get_params()


@pytest.mark.parametrize("option", [{"weight_averaging": 0.9}, {"class_weight": "sqrt_balanced"}])
def test_training_options_keep_probabilities_consistent(synthetic, fast_params, option):
    clf = HierarchicalClassifier(**{**fast_params, "max_epochs": 3, **option}).fit(
        synthetic.X, synthetic.Y, hierarchy=synthetic.hierarchy
    )
    proba = clf.predict_proba(synthetic.X)
    assert synthetic.hierarchy.violations(proba) == 0
    assert micro_auprc(synthetic.Y, proba) > synthetic.Y.mean()


def test_thresholds_are_the_node_ones_under_the_chosen_floor(synthetic, fast_params):
    h = synthetic.hierarchy
    clf = HierarchicalClassifier(**fast_params).fit(synthetic.X, synthetic.Y, hierarchy=h)
    assert clf.threshold_floor_ in THRESHOLD_FLOORS
    np.testing.assert_array_equal(
        clf.thresholds_, np.maximum(clf.node_thresholds_, clf.threshold_floor_)
    )
    alone = HierarchicalClassifier(**fast_params, threshold_floors=(0.0,)).fit(
        synthetic.X, synthetic.Y, hierarchy=h
    )  # the same networks (same seed): only the floor differs
    assert alone.threshold_floor_ == 0.0
    np.testing.assert_array_equal(alone.thresholds_, clf.node_thresholds_)
