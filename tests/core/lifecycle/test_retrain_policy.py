"""Retraining control: when a retrain is due, the server's watcher starting it as one background
job (never two trainings at once, on both backends), and the promotion rule on shared held-out
videos."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from core import quality
from core import review as review_rules
from core.lifecycle import jobs, liveness, promotion, retrain_policy, training
from core.quality import QualityPermissionError
from db.engine import Database, DatabaseBusyError
from db.queries import jobs as jobs_q
from db.queries import model_versions as models_q
from db.queries import retrain_policy as retrain_policy_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.tables import JobStatus, utcnow
from tests.support.threads import at_once

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
    promoted, again = promotion.apply_promotion_rule(
        db, candidate_id=outcome.version_id, min_gain=-1.0, settings=settings
    )
    assert promoted and again.gain == pytest.approx(comparison.gain)
    with db.session() as s:
        assert models_q.get_active_model(s).id == outcome.version_id


# --- the policy starts its own retrains (the dashboard server's watcher) -----------------------


def _policy(db: Database, mode: str, **kwargs) -> None:
    values = {"every_hours": 24, "after_labels": 2, "min_gain": 0.0} | kwargs
    with db.session() as s:
        quality.set_retrain_policy(s, mode=mode, user=None, **values)


def _review(db: Database, n: int) -> None:
    """``n`` new videos, each reviewed now by one moderator."""
    with db.session() as s:
        mod = users_q.get_user_by_name(s, username="mod") or users_q.create_user(
            s, username="mod", password_hash="x"
        )
        for _ in range(n):
            video = videos_q.create_video(s, title="reviewed")
            review_rules.save_review(
                s, video_id=video.id, expected_version=0, node_ids=[], user=mod
            )


def _finish(db: Database, job_id: int, status: str = JobStatus.FAILED) -> None:
    with db.session() as s:
        jobs_q.update_job(s, job_id=job_id, status=status, message="done")


def test_a_due_policy_starts_one_background_training(database, settings, launched) -> None:
    _policy(database, "after_labels")
    _review(database, 1)
    assert retrain_policy.start_if_due(database, settings=settings, now=utcnow()) is None
    _review(database, 1)
    job_id = retrain_policy.start_if_due(database, settings=settings, now=utcnow())
    assert launched == [job_id]
    with database.session() as s:
        job = jobs_q.get_job(s, job_id=job_id)
        assert job.kind == "train" and job.status == JobStatus.QUEUED
        params = json.loads(job.params_json)
        assert params["activate"] is False and "2 videos reviewed" in params["policy"]
        assert retrain_policy_q.get_policy(s).last_run_job_id == job_id
    _review(database, 2)  # due again, but the first training has not finished
    assert retrain_policy.start_if_due(database, settings=settings, now=utcnow()) is None
    _finish(database, job_id)  # the reviews made while it ran count towards the next run
    second = retrain_policy.start_if_due(database, settings=settings, now=utcnow())
    assert second is not None and launched == [job_id, second]
    _finish(database, second)  # a failed run counts as a run: not retried at once
    assert retrain_policy.start_if_due(database, settings=settings, now=utcnow()) is None
    with database.session() as s:
        last_run = retrain_policy.policy_state(s, now=utcnow()).last_run()
    assert last_run.startswith("Last run 20") and last_run.endswith(
        f" UTC: training job {second}, failed (done)."
    )


def test_a_schedule_counts_from_the_last_run_even_a_failed_one(database, settings, launched):
    _policy(database, "schedule", every_hours=6)
    first = retrain_policy.start_if_due(database, settings=settings, now=NOW)  # never trained
    assert first is not None
    _finish(database, first)
    later = NOW + timedelta(hours=5, minutes=59)
    assert retrain_policy.start_if_due(database, settings=settings, now=later) is None
    with database.session() as s:
        state = retrain_policy.policy_state(s, now=later)
    assert state.next_run() == "Next retrain at 2026-12-03 18:00 UTC (every 6 h)."
    assert retrain_policy.start_if_due(database, settings=settings, now=NOW + timedelta(hours=6))
    assert len(launched) == 2


def test_a_training_outside_the_policy_holds_it_back(db, settings, launched) -> None:
    """A `tagger train` run (a version in training, no job) counts as a training in progress."""
    _policy(db, "schedule")
    with db.session() as s:
        models_q.create_model_version(
            s, encoder_id="lite", encoder_version="1", config={"trainer": liveness.this_process()}
        )
    outcome = retrain_policy.retrain_if_due(db, settings=settings, now=NOW)
    assert outcome.version_id is None and "v1 is still training" in outcome.reason
    assert retrain_policy.start_if_due(db, settings=settings, now=NOW) is None
    assert launched == []


def test_servers_checking_at_once_start_one_training(database, settings, launched, monkeypatch):
    """Each check reads the state slowly; without the start lock every one would see no
    training and start its own (PostgreSQL: an advisory lock; DuckDB: the file lock)."""
    _policy(database, "schedule")
    read = retrain_policy.policy_state

    def slow_read(session, *, now):
        state = read(session, now=now)
        time.sleep(0.3)
        return state

    monkeypatch.setattr(retrain_policy, "policy_state", slow_read)
    started = at_once(lambda: retrain_policy.start_if_due(database, settings=settings, now=NOW))
    assert len([j for j in started if j is not None]) == 1 and len(launched) == 1
    with database.session() as s:
        assert len(jobs_q.list_jobs(s, kind="train")) == 1


def test_next_run_in_words(db) -> None:
    with db.session() as s:
        assert retrain_policy.policy_state(s, now=NOW).next_run() == (
            "Retrains only when an admin starts one."
        )
    _policy(db, "after_labels", after_labels=5)
    _review(db, 2)
    with db.session() as s:
        state = retrain_policy.policy_state(s, now=utcnow())
    assert state.due is None
    assert (
        state.next_run() == "Next retrain after 3 more reviews (2 of 5 since the last one started)."
    )
    _review(db, 3)
    with db.session() as s:
        state = retrain_policy.policy_state(s, now=utcnow())
    assert state.next_run() == (
        "A retrain is due now (5 videos reviewed since the last run (threshold 5))."
    )


def test_the_watcher_checks_until_stopped_and_outlives_a_busy_database(db, settings, monkeypatch):
    calls: list[datetime] = []

    def check(db, *, settings, now) -> None:
        calls.append(now)
        if len(calls) == 1:
            raise DatabaseBusyError("busy for a moment")

    monkeypatch.setattr(retrain_policy, "start_if_due", check)
    settings.retrain_poll_s = 0.05
    watcher = retrain_policy.RetrainWatcher(db, settings=settings).start()
    deadline = time.monotonic() + 10
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    watcher.stop()
    assert len(calls) >= 3  # went on after the busy database
    seen = len(calls)
    time.sleep(0.2)
    assert len(calls) == seen  # stopped
    settings.retrain_poll_s = 0
    with pytest.raises(ValueError, match="retrain_poll_s > 0"):
        retrain_policy.RetrainWatcher(db, settings=settings)


@pytest.mark.parametrize("min_gain", [1.0, -1.0])
def test_a_policy_job_applies_the_promotion_rule(
    db, settings, synthetic, launched, monkeypatch, min_gain
) -> None:
    """The background job the watcher starts trains, then lets the rule decide: a gain of 1.0 is
    impossible, so the new version waits for a human; with -1.0 it goes live and a prediction job
    for the pool follows."""
    synthetic.build(db, 48, frames=True)
    kwargs = {"encoder_key": synthetic.encoder_key, "params": synthetic.params()}
    first = training.train_model(db, settings=settings, user=None, **kwargs)
    _policy(db, "schedule", min_gain=min_gain)
    train = training.train_model
    monkeypatch.setattr(
        training,
        "train_model",
        lambda db, **kw: train(db, **kw | {"encoder_key": kwargs["encoder_key"]}),
    )
    with db.session() as s:
        job_id = jobs_q.create_job(
            s,
            kind="train",
            params={
                "activate": False,
                "policy": "scheduled every 24 h",
                "classifier": kwargs["params"],
            },
        ).id
    info = jobs.run_job(db, job_id, settings=settings)
    assert info.status == JobStatus.SUCCEEDED, info.message
    new = info.result["model_version_id"]
    verdict = info.result["policy"]
    assert verdict.startswith(f"v{new} trained (scheduled every 24 h); ")
    with db.session() as s:
        active = models_q.get_active_model(s).id
    if min_gain > 0:
        assert "; waits for a human decision: held-out AU(PRC) " in verdict
        assert info.result["is_active"] is False and active == first.id and launched == []
    else:
        (predict_job,) = launched
        assert "; promoted: held-out AU(PRC) " in verdict
        assert verdict.endswith(f"; the queue is predicted again (job {predict_job})")
        assert info.result["is_active"] is True and active == new
        assert jobs.get_job(db, predict_job).kind == "predict"


def test_a_timer_run_that_promotes_predicts_the_pool(db, settings, synthetic) -> None:
    """`tagger retrain-if-due` does in its own process what the server's job does."""
    synthetic.build(db, 48, frames=True)
    kwargs = {"encoder_key": synthetic.encoder_key, "params": synthetic.params()}
    training.train_model(db, settings=settings, user=None, **kwargs)
    _policy(db, "schedule", min_gain=-1.0)
    with db.session() as s:
        last_trained = retrain_policy_q.last_training_started(s)
    outcome = retrain_policy.retrain_if_due(
        db, settings=settings, now=last_trained + timedelta(hours=24), **kwargs
    )
    assert outcome.promoted and outcome.predicted == 48
    with db.session() as s:
        state = retrain_policy.policy_state(s, now=last_trained + timedelta(hours=24))
    assert state.last_run() == (
        f"Last run {last_trained + timedelta(hours=24):%Y-%m-%d %H:%M} UTC, by "
        "`tagger retrain-if-due`."
    )
    assert outcome.describe().endswith("; 48 videos predicted again, the queue re-ranked")
    with db.session() as s:
        predicted_by = {v.predicted_model_id for v in videos_q.list_videos(s)}
    assert predicted_by == {outcome.version_id}
