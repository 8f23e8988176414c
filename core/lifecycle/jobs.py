"""Background jobs (train, predict, ingest, rank) for the dashboard.

:func:`start_job` records a ``Job`` row and spawns ``tagger jobs run <id>``
(as ``python -m scripts``, same interpreter) in its own session (detached), so the Streamlit
process stays responsive and a dashboard restart does not kill the work. The runner
(:func:`run_job`) writes progress, a message and live metrics into the row in short sessions
(throttled), then ``succeeded`` with a result or ``failed`` with a one-line reason.

A job whose worker was killed outright is failed when it is next read (see
:mod:`core.lifecycle.liveness`): :func:`get_job` does it for one job, :func:`fail_dead_jobs` for
all of them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from core.config import Settings
from core.errors import TaggerError
from core.lifecycle import liveness
from core.lifecycle.progress import StepProgress
from db.engine import Database
from db.queries import Actor
from db.queries import jobs as jobs_q
from db.queries import users as users_q
from db.tables import Job, JobStatus

logger = logging.getLogger(__name__)

JOB_KINDS = ("train", "predict", "ingest", "rank")
PROGRESS_INTERVAL_S = 1.0  # the row is written at most this often while a job runs
HISTORY_LIMIT = 1000  # training epochs kept in the live metrics
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
# `tagger jobs run <id>` without relying on the console script being on PATH (scripts/__main__.py)
_WORKER_MODULE = "scripts"


class JobError(TaggerError):
    """A job request that cannot be served (unknown kind, job not queued)."""


@dataclass(frozen=True)
class JobInfo:
    id: int
    kind: str
    status: str
    progress: float
    message: str
    params: dict
    metrics: dict
    result: dict
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    pid: int | None

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)


def start_job(
    db: Database, *, kind: str, params: dict[str, Any], user: Actor | None, settings: Settings
) -> int:
    """Create the job and start its detached worker process; returns the job id.

    ``params``: train ``{"activate": bool, "classifier": {hyperparameters}}``, plus ``"policy":
    reason`` when the retraining policy started it (``core.lifecycle.retrain_policy``); predict
    ``{"version_id": int, "all": bool}``; ingest ``{"paths": [...], "videos_dir": str}``, or
    ``{"video_ids": [...]}`` for uploads already registered by ``core.ingest.batch.receive_upload``;
    rank ``{"reason": str}`` (``core.lifecycle.queue_ranking``).
    A training is refused while another one runs: the two would only race to be the next version.
    """
    if kind not in JOB_KINDS:
        raise JobError(f"unknown job kind {kind!r}; expected one of {', '.join(JOB_KINDS)}")
    json.dumps(params)  # the worker reads them back from the row: fail here if they cannot go there
    with db.session() as session:
        if kind == "train":
            refuse_second_training(session)
        job_id = jobs_q.create_job(
            session, kind=kind, created_by=user.id if user else None, params=params
        ).id
    launch(db, job_id, settings=settings)
    return job_id


def training_blocker(session: Session) -> str | None:
    """What is training now, in words, or None; call it in the unit of work that then starts a
    training: it holds the start lock until that unit of work ends, so two callers cannot both
    find nothing running and both start one."""
    jobs_q.lock_job_starts(session, kind="train")
    return liveness.training_in_progress(session)


def refuse_second_training(session: Session) -> None:
    """Raise :class:`JobError` while a training runs (:func:`training_blocker`)."""
    running = training_blocker(session)
    if running is not None:
        raise JobError(f"{running}; start the next training when it has finished")


def launch(db: Database, job_id: int, *, settings: Settings) -> None:
    """Start the detached worker of queued job ``job_id``; a worker that cannot start fails the
    job (a row left queued would block the next training)."""
    log_dir = settings.data_dir / "jobs"
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        with (log_dir / f"{job_id}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", _WORKER_MODULE, "jobs", "run", str(job_id)],
                cwd=_PROJECT_ROOT,
                env={**os.environ, **settings_environment(settings)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except OSError as e:
        message = _one_line(f"the worker process did not start: {e}")
        with db.session() as session:
            jobs_q.update_job(session, job_id=job_id, status=JobStatus.FAILED, message=message)
        raise JobError(f"job {job_id}: {message}") from e
    with db.session() as session:
        jobs_q.update_job(session, job_id=job_id, pid=process.pid)


def settings_environment(settings: Settings) -> dict[str, str]:
    """``TAGGER_*`` variables that recreate ``settings`` in a child process (absolute paths)."""
    env = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, Path):
            value = value.resolve()
        env[f"TAGGER_{name.upper()}"] = str(value)
    return env


def get_job(db: Database, job_id: int) -> JobInfo:
    """The job's row; a running job whose process is gone is marked failed first."""
    with db.session() as session:
        return _info(liveness.fail_if_worker_gone(session, jobs_q.get_job(session, job_id=job_id)))


def fail_dead_jobs(db: Database) -> list[int]:
    """Mark every queued or running job whose worker process is gone as failed, with the model
    versions its training left in ``training``; returns the ids of the jobs failed now."""
    with db.session() as session:
        return liveness.fail_dead_jobs(session)


def list_jobs(db: Database, *, kind: str | None = None, limit: int = 20) -> list[JobInfo]:
    """Newest first, dead workers reported as failed."""
    with db.session() as session:
        ids = [job.id for job in jobs_q.list_jobs(session, kind=kind, limit=limit)]
    return [get_job(db, job_id) for job_id in ids]


def latest_ranking_job(db: Database) -> JobInfo | None:
    """The newest prediction or rank job (both end by ranking the review queue), or None."""
    recent = [job for kind in liveness.RANKING_KINDS for job in list_jobs(db, kind=kind, limit=1)]
    return max(recent, key=lambda job: job.id, default=None)


def run_job(db: Database, job_id: int, *, settings: Settings) -> JobInfo:
    """Do a queued job in this process (what the worker runs); failures are recorded, not raised."""
    with db.session() as session:
        job = jobs_q.get_job(session, job_id=job_id)
        if job.status != JobStatus.QUEUED:
            raise JobError(f"job {job_id} is {job.status}, not queued")
        jobs_q.update_job(
            session, job_id=job_id, status=JobStatus.RUNNING, pid=os.getpid(), message="started"
        )
        user = (
            users_q.get_user(session, user_id=job.created_by)
            if job.created_by is not None
            else None
        )
        params = json.loads(job.params_json)
    reporter = _Reporter(db, job_id)
    run = _Run(db=db, params=params, settings=settings, user=user, reporter=reporter, job_id=job_id)
    try:
        result = _RUNNERS[job.kind](run)
    except TaggerError as e:  # a message meant for users: recorded without a traceback
        reporter.finish(JobStatus.FAILED, _one_line(str(e) or type(e).__name__), {})
    except Exception as e:  # recorded for the dashboard AND logged with its traceback
        logger.exception("job %s (%s) failed", job_id, job.kind)
        reporter.finish(JobStatus.FAILED, _one_line(f"{type(e).__name__}: {e}"), {})
    else:
        reporter.finish(JobStatus.SUCCEEDED, "done", result)
    return get_job(db, job_id)


# --- runners ------------------------------------------------------------------------------------


class _Reporter:
    """Throttled progress writes into the job row."""

    def __init__(self, db: Database, job_id: int) -> None:
        self.db = db
        self.job_id = job_id
        self.metrics: dict[str, Any] = {}
        self._last = 0.0

    def update(self, fraction: float, message: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        with self.db.session() as session:
            jobs_q.update_job(
                session,
                job_id=self.job_id,
                progress=fraction,
                message=message,
                metrics=self.metrics,
            )

    def count(self, done: int, total: int, message: str) -> None:
        """Progress as ``done`` of ``total`` items (complete when there are none)."""
        self.update(done / total if total else 1.0, message)

    def finish(self, status: str, message: str, result: dict) -> None:
        with self.db.session() as session:
            jobs_q.update_job(
                session,
                job_id=self.job_id,
                status=status,
                message=message,
                result=result,
                metrics=self.metrics,
                progress=1.0 if status == JobStatus.SUCCEEDED else None,
            )


@dataclass(frozen=True)
class _Run:
    """What a runner gets: the job's database, parameters, settings, user and reporter."""

    db: Database
    params: dict
    settings: Settings
    user: Actor | None
    reporter: _Reporter
    job_id: int


def _run_train(run: _Run) -> dict:
    from core.lifecycle.training import train_model

    history: list[dict] = []

    def progress(fraction: float, message: str, record: dict) -> None:
        if "epoch" in record:
            history.append(record)
            run.reporter.metrics = {"history": history[-HISTORY_LIMIT:]}
        else:
            run.reporter.metrics = {"history": history[-HISTORY_LIMIT:], "final": record}
        run.reporter.update(fraction, message)

    version = train_model(
        run.db,
        settings=run.settings,
        user=run.user,
        progress=progress,
        job_id=run.job_id,
        activate=bool(run.params.get("activate", False)),
        params=run.params.get("classifier"),
    )
    result = {
        "model_version_id": version.id,
        "is_active": version.is_active,
        "metrics": json.loads(version.metrics_json),
    }
    if "policy" in run.params:  # started by the retraining policy: its promotion rule decides
        from core.lifecycle.promotion import judge

        run.reporter.update(1.0, "comparing with the active version on held-out videos", force=True)
        outcome = judge(
            run.db, version_id=version.id, reason=run.params["policy"], settings=run.settings
        )
        verdict = outcome.describe()
        if outcome.promoted:  # the queue shows the new model's suggestions, in its order
            predict_job = start_job(
                run.db, kind="predict", params={}, user=None, settings=run.settings
            )
            verdict += f"; the queue is predicted again (job {predict_job})"
            result["predict_job_id"] = predict_job
        result.update(is_active=outcome.promoted, policy=verdict)
    return result


def _run_predict(run: _Run) -> dict:
    from core.lifecycle.prediction import predict_videos

    steps_seen: set[str] = set()

    def progress(step: StepProgress) -> None:
        # a new step is written at once: the row must not say "predicting" while ranking runs
        first_of_step = step.step not in steps_seen
        steps_seen.add(step.step)
        run.reporter.update(step.fraction, step.describe(), force=first_of_step)

    count = predict_videos(
        run.db,
        settings=run.settings,
        version_id=run.params.get("version_id"),
        all_videos=bool(run.params.get("all", False)),
        progress=progress,
    )
    return {"videos": count}


def _run_rank(run: _Run) -> dict:
    from core.lifecycle.queue_ranking import rank_queue

    def progress(step: StepProgress) -> None:
        run.reporter.update(step.fraction, step.describe(), force=step.done == 0)

    run.reporter.update(0.0, run.params.get("reason", "ranking the review queue"), force=True)
    return {"videos": rank_queue(run.db, settings=run.settings, progress=progress)}


def _run_ingest(run: _Run) -> dict:
    from core.ingest.batch import ingest_paths, process_upload
    from core.lifecycle.coverage import rank_before_first_model

    params = run.params
    if "video_ids" in params:  # uploads received by the HTTP API, already stored and registered
        results = []
        for i, video_id in enumerate(params["video_ids"]):
            run.reporter.update(i / len(params["video_ids"]), f"video {video_id}", force=True)
            results.append(process_upload(run.db, int(video_id), settings=run.settings))
        return {
            "videos": [
                {"video_id": r.video_id, "status": r.status, "reason": r.reason} for r in results
            ]
        }

    def progress(done: int, total: int, name: str) -> None:
        run.reporter.count(done, total, f"{done}/{total} {name}".strip())

    videos_dir = params.get("videos_dir")
    report = ingest_paths(
        run.db,
        list(params.get("paths", [])),  # local paths or object URIs (kept as written)
        settings=run.settings,
        videos_dir=Path(videos_dir) if videos_dir else None,
        progress=progress,
    )
    ranked = rank_before_first_model(
        run.db,
        settings=run.settings,
        progress=lambda step: run.reporter.update(
            step.fraction, step.describe(), force=step.done == 0
        ),
    )
    return {
        "totals": report.totals,
        "failed": [{"name": r.name, "reason": r.reason} for r in report.failed],
        "skipped": [
            {"name": r.name, "reason": r.reason} for r in report.results if r.status == "skipped"
        ][:100],
        "video_seconds": report.video_seconds,
        "wall_seconds": report.wall_seconds,
        "predicted": report.predicted,
        "ranked_by_coverage": ranked,
        "problems": report.problems[:100],
    }


_RUNNERS: dict[str, Callable[[_Run], dict]] = {
    "train": _run_train,
    "predict": _run_predict,
    "ingest": _run_ingest,
    "rank": _run_rank,
}


def _info(job: Job) -> JobInfo:
    return JobInfo(
        id=job.id,
        kind=job.kind,
        status=job.status,
        progress=job.progress,
        message=job.message,
        params=json.loads(job.params_json),
        metrics=json.loads(job.metrics_json),
        result=json.loads(job.result_json),
        created_by=job.created_by,
        created_at=job.created_at,
        updated_at=job.updated_at,
        pid=job.pid,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]
