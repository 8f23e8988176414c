"""The active-learning simulation at CI size: a tiny synthetic pool, two orders, the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.classifier import Hierarchy
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


def test_schedule_goes_from_5_to_50_percent() -> None:
    assert active.schedule(800) == [40, 80, 120, 160, 200, 240, 280, 320, 360, 400]
    assert active.schedule(20)[0] == 2  # never fewer than two labelled rows


def test_labels_to_reach_is_the_first_round_at_or_above_target() -> None:
    curve = active.Curve("d", "s", [10, 20, 30], [0.5, 0.7, 0.6])
    assert active.labels_to_reach(curve, 0.65) == 20
    assert active.labels_to_reach(curve, 0.8) is None


def test_simulation_report_and_plot(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(active, "FAST_PARAMS", {"n_ensemble": 1, "max_epochs": 3, "patience": 2})
    curves = active.run([_pool()], ["random", "expected_errors"], seeds=[0], log=lambda _: None)
    assert [c.strategy for c in curves] == ["random", "expected_errors"]
    for c in curves:
        assert c.n_labels == active.schedule(80)
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
