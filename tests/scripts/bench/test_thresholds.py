"""scripts/bench/thresholds.py: one model scored with its node thresholds and under its floor."""

from __future__ import annotations

import numpy as np
import pytest

from core.classifier.metrics import hierarchical_prf
from scripts.bench import active, thresholds
from tests.scripts.bench.test_active import _pool


def test_both_threshold_sets_are_scored_on_the_same_model(monkeypatch) -> None:
    pool = _pool()
    fitted = []
    real_fit = active._fit
    monkeypatch.setattr(
        active, "_fit", lambda *a, **k: fitted.append(real_fit(*a, **k)) or fitted[-1]
    )
    row = thresholds.measure(pool, seed=0, retrain="fast")
    [clf] = fitted  # one training for both
    proba = clf.predict_proba(pool.X_test)
    for scores, used in (
        (row.without_floor, clf.node_thresholds_),
        (row.with_floor, clf.thresholds_),
    ):
        expected = hierarchical_prf(pool.Y_test, proba >= used, pool.hierarchy)
        assert (scores.precision, scores.recall, scores.f1) == pytest.approx(expected)
        assert scores.tags_per_video == pytest.approx((proba >= used).sum(axis=1).mean())
    assert row.floor == clf.threshold_floor_
    assert row.true_tags_per_video == pytest.approx(pool.Y_test.sum(axis=1).mean())
    table = thresholds.format_table([row, row])
    assert table.count(thresholds.format_row(row)) == 2
    assert f"over 2 fits: mean {row.with_floor.f1 - row.without_floor.f1:+.3f}" in table
    assert np.isfinite(row.cpu_seconds)
