"""Keeping the review queue's order current while videos arrive one at a time.

The queue's default order is chosen over the whole pool at once (BADGE, or coverage at a cold
start: :mod:`core.lifecycle.review_order`, :mod:`core.lifecycle.coverage`), after each pool-wide
prediction run and each ingest run. A video that reaches the pool between them (an upload through
the API or the dashboard, a video processed again, one a lead returned) has no rank and waits after
the ranked ones, least certain first. So that it does not wait there until someone re-predicts,
the dashboard server ranks the pool again (:class:`RankWatcher`) once the first such arrival has
waited ``rerank_after_s``: one ranking for every arrival of that interval, never two at once, none
while a prediction job (which ranks when it ends) runs, and none for ``rerank_after_s`` after a
rank job failed. It also ranks again as soon as the
cold start whose head was chosen by coverage has ended, so BADGE takes the head of the queue when
the labels say so, not at the next prediction run.

The ranking runs as a background job of kind ``rank`` (:func:`rank_queue` in the worker): under a
model it is a pool-wide prediction run (it predicts what the active version has not predicted yet,
then ranks); before the first model, the coverage ranking of ingest. Each ranking is recorded
(``db.queries.videos.record_queue_ranking``): when it read its pool, by which version, how many
videos; :func:`ranking_state` compares the pool with it. Where the server does not run, a timer
calls :func:`rank_if_due` (``tagger rank-if-due``): the same decision and the same job, in its
own process.

Light on purpose (no torch): the server imports it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from core.background import PeriodicCheck
from core.config import Settings
from core.lifecycle import coverage, jobs, liveness
from core.lifecycle.progress import StepCallback
from core.review import count_labelled_videos
from db.engine import Database
from db.queries import jobs as jobs_q
from db.queries import model_versions as models_q
from db.queries import videos as videos_q
from db.tables import JobStatus, ModelVersion, QueueRanking, utcnow

logger = logging.getLogger(__name__)

CHECKS_PER_WAIT = 4  # the watcher looks this often per ``rerank_after_s``
SERVER = "the server"  # who started a rank job, as its ``started_by`` says
TIMER = "`tagger rank-if-due`"


@dataclass(frozen=True)
class RankingState:
    """The queue's last ranking, the videos that reached the pool after it unranked, and
    whether the cold start its head was chosen for has ended since."""

    last: QueueRanking | None
    model_version_id: int | None  # the active version, whose pool is ranked; None: no model yet
    arrivals: int
    first_arrival: datetime | None
    cold_start_over: bool = False

    def describe(self, *, rerank_after_s: float) -> str | None:
        """The order's age and what waits outside it, in words; None before any ranking."""
        last = self.last
        if last is None:
            return None
        version = "no model yet" if last.model_version_id is None else f"v{last.model_version_id}"
        by = {"badge": ", BADGE", "coverage": ", coverage"}.get(last.ranked_by or "", "")
        line = (
            f"Order chosen at {last.ranked_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({version}{by}, "
            f"{_videos(last.videos)})."
        )
        if not self.arrivals:
            return line
        when = (
            f"the server ranks the pool again {_minutes(rerank_after_s)} after the first arrived"
            if rerank_after_s > 0
            else "the next prediction run ranks them"
        )
        wait = "waits" if self.arrivals == 1 else "wait"
        return f"{line} {_videos(self.arrivals)} arrived since and {wait} at the end ({when})."


def ranking_state(session: Session, *, settings: Settings) -> RankingState:
    """Compare the pool of the active version (before any model: the processed videos) with
    the queue's last ranking."""
    active = models_q.get_active_model(session)
    version_id = active.id if active is not None else None
    last = videos_q.get_queue_ranking(session)
    arrivals, first = videos_q.unranked_arrivals(
        session, model_version_id=version_id, since=last.ranked_at if last is not None else None
    )
    over = (
        active is not None
        and last is not None
        and last.ranked_by == "coverage"
        and last.model_version_id == active.id
        and _cold_start_over(session, active, settings)
    )
    return RankingState(last, version_id, arrivals, first, over)


def _cold_start_over(session: Session, active: ModelVersion, settings: Settings) -> bool:
    """Whether the review pool of ``active`` is now ordered by BADGE (the rule of
    :func:`core.lifecycle.review_order.rank_review_pool`); False for a version from before its
    label space was recorded, whose ranking decides by itself."""
    per_tag = settings.review_cold_start_labels_per_tag
    if per_tag <= 0:
        return True
    needed = coverage.labels_needed_by(active, per_tag)
    return needed is not None and count_labelled_videos(session) >= needed


def describe_order(db: Database, *, settings: Settings) -> str | None:
    """The Queue page's line on the order's age (:meth:`RankingState.describe`)."""
    with db.session() as session:
        state = ranking_state(session, settings=settings)
    return state.describe(rerank_after_s=settings.rerank_after_s)


def due(state: RankingState, *, rerank_after_s: float, now: datetime) -> str | None:
    """Why the pool should be ranked again now, or None: the cold start its head covered has
    ended (BADGE takes the head at once), or the first arrival has waited ``rerank_after_s``."""
    if rerank_after_s <= 0:
        return None
    if state.cold_start_over:
        return "enough labelled videos to end the cold start: BADGE takes the head of the queue"
    if state.first_arrival is None:
        return None
    if now - state.first_arrival < timedelta(seconds=rerank_after_s):
        return None
    return f"{_videos(state.arrivals)} reached the pool after the last ranking"


def start_if_due(db: Database, *, settings: Settings, now: datetime) -> int | None:
    """Start a ``rank`` job when the pool is due to be ranked again and nothing ranks it now;
    returns the job's id, or None. Before the first model only during the cold start, the one
    time coverage ranks."""
    claimed = _claim_run(db, settings=settings, now=now, started_by=SERVER)
    if isinstance(claimed, str):
        return None
    jobs.launch(db, claimed, settings=settings)
    return claimed


def rank_if_due(db: Database, *, settings: Settings, now: datetime) -> str:
    """Do in this process what the server's rank job does, when it is due (``tagger
    rank-if-due``, for a timer where the dashboard server does not run); returns what it did or
    why it did nothing, in words. The run is a ``rank`` job like the server's, so a server or a
    second timer on the same database never ranks beside it.

    Raises :class:`core.lifecycle.jobs.JobError` when the ranking failed (its reason is also on
    the job).
    """
    claimed = _claim_run(db, settings=settings, now=now, started_by=TIMER)
    if isinstance(claimed, str):
        return claimed
    info = jobs.run_job(db, claimed, settings=settings)
    if info.status != JobStatus.SUCCEEDED:
        raise jobs.JobError(f"rank job {claimed} failed: {info.message}")
    line = describe_order(db, settings=settings) or "The pool was empty: nothing to rank."
    return f"Ranked again (rank job {claimed}: {info.params['reason']}). {line}"


def _claim_run(db: Database, *, settings: Settings, now: datetime, started_by: str) -> int | str:
    """The id of a queued ``rank`` job when the pool is due to be ranked again and nothing ranks
    it now, or why not, in words. ``started_by``: who starts it, as the Models page names it."""
    with db.session() as session:
        state = ranking_state(session, settings=settings)
    if due(state, rerank_after_s=settings.rerank_after_s, now=now) is None:
        return _not_due(state, rerank_after_s=settings.rerank_after_s, now=now)
    if state.model_version_id is None and coverage.cold_start(db, settings=settings) is None:
        return "Not due: no model yet, and coverage ranks only during the cold start."
    with db.session() as session:
        jobs_q.lock_job_starts(session, kind="rank")  # two servers: one job between them
        running = liveness.ranking_in_progress(session)
        if running is not None:
            return f"Not started: {running} (it ranks the pool when it ends)."
        state = ranking_state(session, settings=settings)
        reason = due(state, rerank_after_s=settings.rerank_after_s, now=now)
        if reason is None:  # a ranking ended since the first look
            return _not_due(state, rerank_after_s=settings.rerank_after_s, now=now)
        failed = _failed_lately(session, rerank_after_s=settings.rerank_after_s, now=now)
        if failed is not None:
            return failed
        params = {"reason": reason, "started_by": started_by}
        return jobs_q.create_job(session, kind="rank", params=params).id


def _not_due(state: RankingState, *, rerank_after_s: float, now: datetime) -> str:
    """Why :func:`due` found nothing to do, in words."""
    if rerank_after_s <= 0:
        return "Not due: ranking again is off (TAGGER_RERANK_AFTER_S is 0)."
    if state.first_arrival is None:
        return "Not due: no video reached the pool after the last ranking."
    waited = max(now - state.first_arrival, timedelta(0)).total_seconds()
    return (
        f"Not due: {_videos(state.arrivals)} reached the pool after the last ranking, the first "
        f"{_minutes(round(waited))} ago (ranked once it has waited {_minutes(rerank_after_s)})."
    )


def _failed_lately(session: Session, *, rerank_after_s: float, now: datetime) -> str | None:
    """Why not now, when the latest rank job failed less than ``rerank_after_s`` ago: wait that
    long before the next, rather than fail again every check (its reason is on the job)."""
    latest = jobs_q.list_jobs(session, kind="rank", limit=1)
    if not latest or latest[0].status != JobStatus.FAILED:
        return None
    retry_at = latest[0].updated_at + timedelta(seconds=rerank_after_s)
    if now >= retry_at:
        return None
    return (
        f"Not started: rank job {latest[0].id} failed ({latest[0].message}); the next try is "
        f"after {retry_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC."
    )


def rank_queue(db: Database, *, settings: Settings, progress: StepCallback | None = None) -> int:
    """Rank the pool again: under the active model a pool-wide prediction run (returns the
    videos it predicted), before the first model coverage (returns the videos ranked). When
    nothing could be ranked the order stands, and the time of the check is recorded as its
    ranking's, so the same arrivals do not start another run."""
    started = utcnow()
    with db.session() as session:
        active = models_q.get_active_model(session)
    if active is not None:
        from core.lifecycle.prediction import predict_videos

        done = predict_videos(db, settings=settings, progress=progress)
    else:
        done = coverage.rank_before_first_model(db, settings=settings, progress=progress)
    with db.session() as session:
        last = videos_q.get_queue_ranking(session)
        if last is None or last.ranked_at < started:  # nothing was ranked: the order stands
            videos_q.confirm_queue_ranking(
                session, at=started, model_version_id=active.id if active is not None else None
            )
    return done


class RankWatcher(PeriodicCheck):
    """:func:`start_if_due` ``CHECKS_PER_WAIT`` times per ``rerank_after_s``."""

    name = "rank-watcher"

    def __init__(self, db: Database, *, settings: Settings) -> None:
        if settings.rerank_after_s <= 0:
            raise ValueError("the rank watcher needs rerank_after_s > 0")
        super().__init__(db, settings=settings)

    def interval_s(self) -> float:
        return self.settings.rerank_after_s / CHECKS_PER_WAIT

    def check(self) -> None:
        job_id = start_if_due(self.db, settings=self.settings, now=utcnow())
        if job_id is not None:
            logger.info("review queue: started rank job %s", job_id)


def _videos(n: int) -> str:
    return f"{n:,} video" if n == 1 else f"{n:,} videos"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
