"""The active-learning simulation at CI size: a tiny synthetic pool, two orders, the report."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.classifier import Hierarchy
from core.lifecycle.training import default_classifier_params
from scripts.bench import active
from scripts.bench.plot import line_charts

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pool(n: int = 80) -> active.Pool:
    """Two tier-1 classes with two children each; features near the leaf's centre."""
    rng = np.random.default_rng(0)
    hierarchy = Hierarchy([[], [], [0], [0], [1], [1]])
    leaves = rng.integers(2, 6, size=2 * n)
    centres = rng.normal(size=(6, 8)) * 3
    X = (centres[leaves] + rng.normal(size=(2 * n, 8))).astype(np.float32)
    Y = np.zeros((2 * n, 6), dtype=bool)
    Y[np.arange(2 * n), leaves] = True
    Y = hierarchy.close_upward(Y)
    return active.Pool("toy", X[:n], Y[:n], X[n:], Y[n:], hierarchy, np.arange(6), X[:n])


def test_schedule_goes_from_5_percent_to_the_whole_pool_by_default() -> None:
    assert active.schedule(800) == list(range(40, 801, 40))
    assert active.schedule(20)[0] == 2  # never fewer than two labelled rows


def test_schedule_at_half_the_pool_is_the_earlier_protocol() -> None:
    assert active.schedule(800, 0.5) == [40, 80, 120, 160, 200, 240, 280, 320, 360, 400]
    assert active.schedule(70, 0.5)[-1] == 40  # the earlier demo corpus budget (40 of 70)


def test_schedule_ends_at_the_whole_pool_without_empty_rounds() -> None:
    counts = active.schedule(70)  # 5 % of 70 rounds to 4 a round: 4, 8, ..., 68, then 70
    assert counts[0] == 4 and counts[-2:] == [68, 70]
    assert all(later > earlier for earlier, later in itertools.pairwise(counts))
    assert active.schedule(1587)[-2:] == [1580, 1587]  # 79 a round would stop 7 rows short


@pytest.mark.parametrize("budget", [0.05, 0.0, 1.01])
def test_a_budget_outside_the_pool_is_refused(budget: float) -> None:
    with pytest.raises(ValueError, match="share of the pool"):
        active.schedule(800, budget)
    with pytest.raises(SystemExit):
        active.main(["--datasets", "--budget", str(budget), "--png", "x.png"])


def test_ratio_is_labels_needed_over_the_budget_on_the_mean_curves() -> None:
    counts = active.schedule(100)  # 5, 10, ..., 100
    random_runs = [
        active.Curve("d", "random", counts, [0.5 + 0.02 * i for i in range(20)]),
        active.Curve("d", "random", counts, [0.5 + 0.02 * i + 0.01 for i in range(20)]),
    ]
    # seed 0 alone reaches random's final (0.885) at 30 labels, the mean over seeds only at 65
    badge_runs = [
        active.Curve("d", "badge", counts, [0.5] * 5 + [0.92] * 15),
        active.Curve("d", "badge", counts, [0.5] * 11 + [0.78] + [0.9] * 8),
    ]
    rows = active.summary_rows([active.mean_curve(random_runs), active.mean_curve(badge_runs)])
    random_row, badge_row = rows
    assert random_row["target"] == pytest.approx(0.885) and random_row["budget"] == 100
    assert random_row["labels_to_target"] == 100 and random_row["ratio"] == 1.0
    assert badge_row["labels_to_target"] == 65 and badge_row["ratio"] == pytest.approx(0.65)
    assert (badge_row["goal_labels"], badge_row["at_goal"]) == (60, pytest.approx(0.85))
    # paired by seed at 60 labels: badge 0.92 - 0.88 and 0.78 - 0.89, random 0.72 - 0.88 twice
    assert badge_row["gap_at_goal"] == pytest.approx((-0.035, 0.075))
    assert random_row["gap_at_goal"] == pytest.approx((-0.16, 0.0), abs=1e-12)
    table = active.format_table(rows)
    badge_line = (
        "| d | badge | 0.500 | 0.910 (100) | 0.885 | 65 | 65% | 0.850 (60) | -0.035 ± 0.075 |"
    )
    assert f"{badge_line} **no** |" in table


def test_a_single_seed_has_no_paired_gap() -> None:
    counts = active.schedule(100)
    random_run = active.mean_curve([active.Curve("d", "random", counts, [0.5] * 20)])
    badge_run = active.mean_curve([active.Curve("d", "badge", counts, [0.6] * 20)])
    assert active.paired_gap(badge_run, random_run, 11) is None
    assert "| 0.600 (60) | - | yes |" in active.format_table(
        active.summary_rows([random_run, badge_run])
    )


def test_score_at_takes_the_last_round_within_the_labels() -> None:
    curve = active.Curve("d", "s", [10, 20, 30], [0.5, 0.7, 0.6])
    assert active.score_at(curve, 25) == (20, 0.7)
    assert active.score_at(curve, 30) == (30, 0.6)
    with pytest.raises(ValueError, match="at most 5 labels"):
        active.score_at(curve, 5)


def test_labels_to_reach_is_the_first_round_at_or_above_target() -> None:
    curve = active.Curve("d", "s", [10, 20, 30], [0.5, 0.7, 0.6])
    assert active.labels_to_reach(curve, 0.65) == 20
    assert active.labels_to_reach(curve, 0.8) is None


def test_simulation_report_and_plot(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(active, "FAST_PARAMS", {"n_ensemble": 1, "max_epochs": 3, "patience": 2})
    curves = active.run(
        [_pool()], ["random", "expected_errors"], seeds=[0], log=lambda _: None, budget=0.5
    )
    assert [c.strategy for c in curves] == ["random", "expected_errors"]
    for c in curves:
        assert c.n_labels == active.schedule(80, 0.5)
        assert all(0 < v <= 1 for v in c.auprc)
    assert curves[0].auprc[0] == curves[1].auprc[0]  # the same start for every order
    rows = active.summary_rows(curves)
    assert rows[0]["target"] == curves[0].auprc[-1] and rows[0]["budget"] == 40
    table = active.format_table(rows)
    assert "| toy | expected_errors |" in table and "goal <= 60%" in table
    png = line_charts(
        tmp_path / "plot.png",
        {"toy": {c.strategy: (c.n_labels, c.auprc) for c in curves}},
        x_label="labels",
        y_label="AU(PRC)",
    )
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size[0] > 200


def test_committee_order_trains_a_committee(monkeypatch) -> None:
    monkeypatch.setattr(active, "FAST_PARAMS", {"n_ensemble": 1, "max_epochs": 2, "patience": 2})
    curves = active.run(
        [_pool(60)], ["random", "committee", "density"], seeds=[0], log=lambda _: None, members=2
    )
    assert [c.strategy for c in curves] == ["random", "committee", "density"]
    assert curves[0].auprc[0] == curves[1].auprc[0] == curves[2].auprc[0]
    with pytest.raises(SystemExit, match="members 2"):
        active.main(["--datasets", "--strategies", "random", "committee", "--png", "x.png"])


def test_gradient_orders_use_the_classifiers_gradient_embedding(monkeypatch) -> None:
    monkeypatch.setattr(active, "FAST_PARAMS", {"n_ensemble": 1, "max_epochs": 2, "patience": 2})
    curves = active.run(
        [_pool(60)], ["random", "badge", "gradient_length"], seeds=[0], log=lambda _: None
    )
    assert [c.strategy for c in curves] == ["random", "badge", "gradient_length"]
    assert curves[0].auprc[0] == curves[1].auprc[0] == curves[2].auprc[0]
    assert all(c.n_labels == active.schedule(60) for c in curves)


def test_every_order_labels_the_whole_pool_at_budget_one(monkeypatch) -> None:
    """The last rounds hand every remaining row over, including BADGE's k-means++ when it must
    pick all of them."""
    monkeypatch.setattr(active, "FAST_PARAMS", {"n_ensemble": 1, "max_epochs": 1, "patience": 1})
    pool = _pool(40)
    for strategy in ("random", "badge"):
        curve = active.simulate(pool, strategy, budget=1.0)
        assert curve.n_labels == active.schedule(40) and curve.n_labels[-1] == 40


def test_true_loss_puts_the_rows_the_model_is_most_wrong_about_first() -> None:
    proba = np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0.99, 0.01]])
    labels = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=bool)
    # losses: row 3 (two confident mistakes), row 2 (two mistakes), row 1 (unsure), row 0 (right)
    assert active.true_loss_order(proba, labels).tolist() == [3, 2, 1, 0]
    # a certain mistake (probability 0 for a true tag) comes first, not as NaN at the end
    certain = np.array([[0.5, 0.5], [0.0, 0.0]])
    assert active.true_loss_order(certain, labels[[0, 3]]).tolist() == [1, 0]


def test_true_loss_reviews_the_rows_the_current_model_gets_most_wrong(monkeypatch) -> None:
    """Each round's batch is the head of the oracle's order under that round's model, up to the
    whole pool."""
    monkeypatch.setattr(active, "FAST_PARAMS", {"n_ensemble": 1, "max_epochs": 2, "patience": 2})
    pool = _pool(40)
    asked = []
    real_order = active.true_loss_order

    def recorded(proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
        asked.append(len(labels))
        return real_order(proba, labels)

    monkeypatch.setattr(active, "true_loss_order", recorded)
    curve = active.simulate(pool, active.TRUE_LOSS, budget=1.0)
    assert curve.n_labels == active.schedule(40) and curve.n_labels[-1] == 40
    assert asked == [40 - n for n in curve.n_labels[:-1]]  # the unlabelled rows, every round


def test_the_same_labels_train_the_same_model_in_any_review_order(monkeypatch) -> None:
    """As in the product, whose training set comes in video-id order: at the whole pool every
    order trains the same model, so random order's final is every order's final."""
    monkeypatch.setattr(active, "FAST_PARAMS", {"n_ensemble": 1, "max_epochs": 3, "patience": 3})
    pool = _pool(40)
    labelled = np.random.default_rng(1).permutation(40)[:30]
    first = active._fit(pool, labelled, seed=0).predict_proba(pool.X_test)
    again = active._fit(pool, labelled[::-1], seed=0).predict_proba(pool.X_test)
    np.testing.assert_array_equal(first, again)


def test_product_retrain_is_the_products_own_settings_and_fast_overrides_them() -> None:
    assert active.retrain_params(400, "product") == default_classifier_params(400)
    assert active.retrain_params(400, "product")["n_ensemble"] == 3
    fast = active.retrain_params(400, "fast", members=2)
    assert fast["n_ensemble"] == 2
    assert (
        fast["max_epochs"]
        == active.FAST_PARAMS["max_epochs"]
        != default_classifier_params(400)["max_epochs"]
    )
    with pytest.raises(ValueError, match="fast, product"):
        active.retrain_params(400, "slow")


def test_product_retrain_fits_what_the_product_fits(monkeypatch) -> None:
    fitted = []
    real_init = active.HierarchicalClassifier.__init__

    def record(self, **params) -> None:
        fitted.append(params)
        real_init(self, **{**params, "max_epochs": 2})

    monkeypatch.setattr(active.HierarchicalClassifier, "__init__", record)
    active.simulate(_pool(60), "random", seed=3, retrain="product", budget=0.1)
    assert fitted and all(p["n_ensemble"] == 3 and p["random_state"] == 3 for p in fitted)
    assert {k: v for k, v in fitted[0].items() if k != "random_state"} == default_classifier_params(
        3
    )


def test_members_cannot_be_set_for_the_product_retrain() -> None:
    with pytest.raises(SystemExit, match="product's is its own"):
        active.main(["--datasets", "--retrain", "product", "--members", "2", "--png", "x.png"])


def test_a_smaller_step_retrains_more_often_up_to_the_same_budget() -> None:
    assert active.schedule(800, step=0.025) == list(range(40, 801, 20))
    assert active.schedule(800, 0.5, step=0.1) == [40, 120, 200, 280, 360, 400]
    with pytest.raises(ValueError, match="round's share"):
        active.schedule(800, step=0.0)
    with pytest.raises(SystemExit):
        active.main(["--datasets", "--step", "1.5", "--png", "x.png"])


def test_the_whole_pools_fits_are_every_orders_last_round(monkeypatch) -> None:
    monkeypatch.setattr(active, "FAST_PARAMS", {"n_ensemble": 1, "max_epochs": 2, "patience": 2})
    pool = _pool(40)
    scores = active.whole_pool_scores(pool, range(3))
    assert len(scores) == 3 and len(set(scores)) > 1  # another seed, another model
    for seed in (0, 1):
        curve = active.simulate(pool, "badge", seed=seed)
        assert curve.n_labels[-1] == 40 and curve.auprc[-1] == scores[seed]


def test_a_target_from_whole_pool_fits_replaces_randoms_final() -> None:
    counts = active.schedule(100)
    random_run = active.mean_curve([active.Curve("d", "random", counts, [0.5] * 19 + [0.9])])
    badge_run = active.mean_curve([active.Curve("d", "badge", counts, [0.5] * 9 + [0.86] * 11)])
    rows = active.summary_rows([random_run, badge_run], {"d": [0.84, 0.86, 0.88, 0.86]})
    assert rows[1]["target"] == pytest.approx(0.86) and rows[1]["target_fits"] == 4
    assert rows[1]["labels_to_target"] == 50  # 0.86 >= the fits' mean, not >= random's 0.9
    assert "| 0.860 (every label, 4 fits) | 50 | 50% |" in active.format_table(rows)
    assert active.summary_rows([random_run, badge_run])[1]["labels_to_target"] is None


@pytest.mark.parametrize("extra", [["--final-fits", "1"], ["--final-fits", "4", "--budget", "0.5"]])
def test_whole_pool_fits_need_two_or_more_and_the_whole_pool(extra: list[str]) -> None:
    with pytest.raises(SystemExit, match="final-fits"):
        active.main(["--datasets", *extra, "--png", "x.png"])


def test_typical_then_badge_follows_typical_then_badge_at_the_switch_given(monkeypatch) -> None:
    """``--typical-labels-per-tag``: at 0 the order is BADGE's from the first round; high
    enough, TypiClust's to the last."""
    monkeypatch.setattr(active, "FAST_PARAMS", {"n_ensemble": 1, "max_epochs": 2, "patience": 2})
    pool = _pool(60)

    def curve(strategy: str, labels_per_tag: float = active.ranking.TYPICAL_LABELS_PER_TAG):
        return active.simulate(pool, strategy, labels_per_tag=labels_per_tag).auprc

    assert curve("typical_then_badge", labels_per_tag=0) == curve("badge")
    assert curve("typical_then_badge", labels_per_tag=100) == curve("typical")
    assert curve("typical") != curve("badge")


def test_typical_then_badge_decides_each_round_as_the_queue_does(monkeypatch) -> None:
    """``--min-neighbour-agreement`` above any agreement: coverage only while too few rows are
    labelled to measure it, BADGE after; 0: coverage by the count alone. The curve records how
    many batches coverage chose."""
    monkeypatch.setattr(active, "FAST_PARAMS", {"n_ensemble": 1, "max_epochs": 1, "patience": 1})
    monkeypatch.setattr(active.ranking, "AGREEMENT_ROWS", 30)  # samples of 30 of the 60 rows
    pool = _pool(60)
    counts = active.schedule(60)
    batches = len(counts) - 1
    unmeasured = sum(count < active.ranking.AGREEMENT_ROWS for count in counts[:-1])
    assert 0 < unmeasured < batches
    strict = active.simulate(pool, "typical_then_badge", labels_per_tag=100, min_agreement=1.01)
    assert strict.coverage_rounds == [unmeasured]
    by_count = active.simulate(pool, "typical_then_badge", labels_per_tag=100, min_agreement=0)
    assert by_count.coverage_rounds == [batches]
    assert active.mean_curve([strict, by_count]).coverage_rounds == [unmeasured, batches]
