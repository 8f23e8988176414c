"""Retraining control: when a retrain starts by itself, and when its result replaces the model.

The admin's policy (db/queries/retrain_policy.py) says when: ``on_demand`` (never by itself),
``schedule`` (``every_hours`` after the last run started) or ``after_labels`` (``after_labels``
videos reviewed since). The dashboard server checks it every ``retrain_poll_s`` seconds
(:class:`RetrainWatcher`) and starts a due retrain as a background job (:func:`start_if_due`), so a
team needs no timer of its own; :func:`retrain_if_due` does the same in the calling process
(``tagger retrain-if-due``, for a deployment without the server). Never two trainings at once.

The promotion rule that decides whether the new version goes live is in
:mod:`core.lifecycle.promotion` (it loads models; this module stays light for the server).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from core.background import PeriodicCheck
from core.config import Settings
from core.lifecycle import jobs
from db.engine import Database
from db.queries import jobs as jobs_q
from db.queries import retrain_policy as policy_q
from db.tables import Job, RetrainPolicy, utcnow

logger = logging.getLogger(__name__)

WAITS = "waits for a human decision"  # a held-back version's notes start with this


@dataclass(frozen=True)
class Comparison:
    candidate_auprc: float
    active_auprc: float
    n_videos: int
    n_tags: int

    @property
    def gain(self) -> float:
        return self.candidate_auprc - self.active_auprc


@dataclass(frozen=True)
class RetrainOutcome:
    reason: str  # why it trained, or why not
    version_id: int | None = None
    promoted: bool = False
    comparison: Comparison | None = None
    predicted: int | None = None  # videos the promoted version then predicted

    def describe(self) -> str:
        """One line for the terminal and the Models page."""
        if self.version_id is None:
            return self.reason
        verdict = "promoted" if self.promoted else WAITS
        line = f"v{self.version_id} trained ({self.reason}); {verdict}"
        if self.comparison is not None:
            c = self.comparison
            line += f": held-out AU(PRC) {c.candidate_auprc:.4f} vs {c.active_auprc:.4f}"
        if self.predicted is not None:
            line += f"; {self.predicted} videos predicted again, the queue re-ranked"
        return line


@dataclass(frozen=True)
class PolicyState:
    """The policy and what deciding on it reads: when the last retrain started (a version's
    training, or the policy's own last run, failed or not) and the videos reviewed since."""

    policy: RetrainPolicy
    last_started: datetime | None
    new_reviews: int
    due: str | None  # why a retrain is due now, or None
    last_job: Job | None = None  # the training job of the policy's last run, if it had one

    def last_run(self) -> str | None:
        """The policy's last retrain, in words (when, and how it ended); None before the first."""
        at = self.policy.last_run_at
        if at is None:
            return None
        when = f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        if self.last_job is None:
            return f"Last run {when}, by `tagger retrain-if-due`."
        job = self.last_job
        outcome = json.loads(job.result_json or "{}").get("policy") or job.message
        line = f"Last run {when}: training job {job.id}, {job.status}"
        return f"{line} ({outcome})." if outcome else f"{line}."

    def next_run(self) -> str:
        """When the policy starts the next retrain, in words."""
        policy = self.policy
        if policy.mode == "on_demand":
            return "Retrains only when an admin starts one."
        if self.due is not None:
            return f"A retrain is due now ({self.due})."
        if policy.mode == "schedule":
            at = (self.last_started + timedelta(hours=policy.every_hours)).astimezone(UTC)
            return f"Next retrain at {at:%Y-%m-%d %H:%M} UTC (every {policy.every_hours:g} h)."
        return (
            f"Next retrain after {policy.after_labels - self.new_reviews} more reviews "
            f"({self.new_reviews} of {policy.after_labels} since the last one started)."
        )


def due(
    *,
    mode: str,
    every_hours: float,
    after_labels: int,
    last_started: datetime | None,
    new_reviews: int,
    now: datetime,
) -> str | None:
    """Why a retrain is due now under the policy, or None when it is not."""
    if mode == "schedule":
        if last_started is None or now - last_started >= timedelta(hours=every_hours):
            return f"scheduled every {every_hours:g} h"
        return None
    if mode == "after_labels":
        if new_reviews >= after_labels:
            return f"{new_reviews} videos reviewed since the last run (threshold {after_labels})"
        return None
    return None


def policy_state(session: Session, *, now: datetime) -> PolicyState:
    """The policy and whether a retrain is due under it at ``now``."""
    policy = policy_q.get_policy(session)
    started = [policy_q.last_training_started(session), policy.last_run_at]
    last = max((t for t in started if t is not None), default=None)
    new_reviews = policy_q.reviewed_since(session, since=last)
    reason = due(
        mode=policy.mode,
        every_hours=policy.every_hours,
        after_labels=policy.after_labels,
        last_started=last,
        new_reviews=new_reviews,
        now=now,
    )
    job = (
        jobs_q.get_job(session, job_id=policy.last_run_job_id)
        if policy.last_run_job_id is not None
        else None
    )
    return PolicyState(policy, last, new_reviews, reason, job)


def _claim_run(session: Session, *, now: datetime) -> PolicyState | str:
    """In the unit of work that then starts the retrain: the due state, or why nothing starts
    (a training runs, or none is due). Holds the training start lock until the unit ends, so two
    servers cannot both start one."""
    running = jobs.training_blocker(session)
    if running is not None:
        return f"not started: {running}"
    state = policy_state(session, now=now)
    if state.due is None:
        return f"not due (policy: {state.policy.mode})"
    return state


def start_if_due(db: Database, *, settings: Settings, now: datetime) -> int | None:
    """Start the policy's retrain as a background training job when it is due and no training
    runs; returns the job's id, or None. The job applies the promotion rule when it has trained
    (:func:`core.lifecycle.promotion.judge`) and, when the version went live, starts a prediction
    job for the pool, so the queue shows its suggestions in its order."""
    with db.session() as session:
        state = _claim_run(session, now=now)
        if isinstance(state, str):
            return None
        job_id = jobs_q.create_job(
            session, kind="train", params={"activate": False, "policy": state.due}
        ).id
        policy_q.record_run(session, at=now, job_id=job_id)
    jobs.launch(db, job_id, settings=settings)
    return job_id


def retrain_if_due(
    db: Database,
    *,
    settings: Settings,
    now: datetime,
    params: dict | None = None,
    encoder_key: tuple[str, str] | None = None,
) -> RetrainOutcome:
    """Train a new version in this process when the policy says so and no training runs, then
    apply the promotion rule, and predict the pool with the version if it went live (``params``
    and ``encoder_key`` as in :func:`training.train_model`)."""
    from core.lifecycle import prediction, promotion, training

    with db.session() as session:
        state = _claim_run(session, now=now)
        if isinstance(state, str):
            return RetrainOutcome(reason=state)
        policy_q.record_run(session, at=now, job_id=None)
    version = training.train_model(
        db, settings=settings, user=None, activate=False, params=params, encoder_key=encoder_key
    )
    outcome = promotion.judge(db, version_id=version.id, reason=state.due, settings=settings)
    if not outcome.promoted:
        return outcome
    return replace(outcome, predicted=prediction.predict_videos(db, settings=settings))


class RetrainWatcher(PeriodicCheck):
    """Every ``retrain_poll_s`` seconds, :func:`start_if_due`."""

    name = "retrain-watcher"

    def __init__(self, db: Database, *, settings: Settings) -> None:
        if settings.retrain_poll_s <= 0:
            raise ValueError("the retrain watcher needs retrain_poll_s > 0")
        super().__init__(db, settings=settings)

    def interval_s(self) -> float:
        return self.settings.retrain_poll_s

    def check(self) -> None:
        job_id = start_if_due(self.db, settings=self.settings, now=utcnow())
        if job_id is not None:
            logger.info("retrain policy: started training job %s", job_id)
