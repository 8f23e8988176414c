"""Retraining control: when a retrain is due, and the promotion rule on shared held-out videos."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import quality
from core import review as review_rules
from core.lifecycle import retrain_policy, training
from core.quality import QualityPermissionError
from db.queries import model_versions as models_q
from db.queries import users as users_q

pytestmark = pytest.mark.usefixtures("one_torch_thread")
NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def _due(mode: str, *, last_hours_ago: float | None, new_reviews: int = 0) -> str | None:
    last = None if last_hours_ago is None else NOW - timedelta(hours=last_hours_ago)
    return retrain_policy.due(
        mode=mode,
        every_hours=24,
        after_labels=50,
        last_started=last,
        new_reviews=new_reviews,
        now=NOW,
    )


def test_due_follows_the_mode() -> None:
    assert _due("on_demand", last_hours_ago=1000, new_reviews=10_000) is None
    assert _due("schedule", last_hours_ago=23) is None
    assert "every 24 h" in _due("schedule", last_hours_ago=24)
    assert _due("schedule", last_hours_ago=None) is not None  # never trained
    assert _due("after_labels", last_hours_ago=1, new_reviews=49) is None
    assert "50 videos reviewed" in _due("after_labels", last_hours_ago=1, new_reviews=50)


def test_policy_is_validated(db) -> None:
    with db.session() as s:
        with pytest.raises(ValueError, match="expected one of"):
            quality.set_retrain_policy(
                s, mode="hourly", every_hours=1, after_labels=1, min_gain=0, user=None
            )
        with pytest.raises(ValueError, match="AU\\(PRC\\) points"):
            quality.set_retrain_policy(
                s, mode="schedule", every_hours=1, after_labels=1, min_gain=5, user=None
            )
        mod = users_q.create_user(s, username="mod", password_hash="x")
        with pytest.raises(QualityPermissionError):
            quality.set_retrain_policy(
                s, mode="schedule", every_hours=1, after_labels=1, min_gain=0, user=mod
            )


def test_promotion_rule_on_the_same_held_out_videos(db, settings, synthetic) -> None:
    synthetic.build(db, 48, frames=True)
    kwargs = {"encoder_key": synthetic.encoder_key, "params": synthetic.params()}
    first = training.train_model(db, settings=settings, user=None, **kwargs)
    assert first.is_active
    with db.session() as s:
        quality.set_retrain_policy(
            s, mode="after_labels", every_hours=24, after_labels=1, min_gain=1.0, user=None
        )
    outcome = retrain_policy.retrain_if_due(db, settings=settings, now=NOW, **kwargs)
    assert outcome.version_id is None and "not due" in outcome.reason  # nothing reviewed yet
    with db.session() as s:  # one confirmed review makes it due
        mod = users_q.create_user(s, username="mod", password_hash="x")
        review_rules.save_review(s, video_id=1, expected_version=0, node_ids=[], user=mod)
    outcome = retrain_policy.retrain_if_due(db, settings=settings, now=NOW, **kwargs)
    assert outcome.version_id is not None and not outcome.promoted  # a gain of 1.0 is impossible
    comparison = outcome.comparison
    assert comparison.n_videos > 0 and 0 < comparison.active_auprc <= 1
    with db.session() as s:
        assert models_q.get_active_model(s).id == first.id
        held = models_q.get_model_version(s, model_version_id=outcome.version_id)
        assert held.status == "ready" and "waits for a human decision" in held.notes
    # a lenient rule promotes the same candidate
    promoted, again = retrain_policy.apply_promotion_rule(
        db, candidate_id=outcome.version_id, min_gain=-1.0, settings=settings
    )
    assert promoted and again.gain == pytest.approx(comparison.gain)
    with db.session() as s:
        assert models_q.get_active_model(s).id == outcome.version_id
