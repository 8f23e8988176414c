"""Work whose process is gone: jobs and trainings that were killed before they could say so.

A worker killed outright (``kill -9``, out-of-memory, a reboot) cannot record anything. A job
whose process is gone while its row still says queued or running is failed when it is next read
("worker process exited"), together with the model version its training left in ``training``;
a version whose ``tagger train`` process (host and pid kept in the version, see
:func:`this_process`) is gone is failed too. :func:`list_model_versions` does both before it
lists the versions (the dashboard's and CLI's list).

Light on purpose (no torch): the dashboard lists versions on every page of the models view.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from sqlmodel import Session

from db.engine import Database
from db.queries import jobs as jobs_q
from db.queries import model_versions as models_q
from db.tables import Job, JobStatus, ModelStatus, ModelVersion

WORKER_EXITED = "worker process exited"
TRAINER_EXITED = "training process exited before the model was saved"
_LIVE_JOBS_CHECKED = 1000  # far more queued or running jobs than ever run at once
ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)  # a job not finished yet
RANKING_KINDS = ("predict", "rank")  # the jobs that end by ranking the review queue


def this_process() -> dict[str, Any]:
    """Host and pid of this process, stored with a version while it trains (``tagger train``
    runs outside any job, so the version itself must say who is training it)."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def list_model_versions(db: Database, *, limit: int = 50) -> list[ModelVersion]:
    """Newest first. In the same unit of work, dead jobs and dead ``tagger train`` runs are failed
    first, so a version whose training process was killed is listed as failed with the reason in
    ``notes``, never as a training that will not finish."""
    with db.session() as session:
        fail_dead_jobs(session)
        _fail_dead_trainings(session)
        return models_q.list_model_versions(session, limit=limit)


def training_in_progress(session: Session) -> str | None:
    """What is training now, in words (a training job, or a ``tagger train`` run), or None.
    Dead ones are failed first, so a killed training never blocks the next one."""
    fail_dead_jobs(session)
    _fail_dead_trainings(session)
    live = jobs_q.list_jobs(session, kind="train", statuses=list(ACTIVE_STATUSES), limit=1)
    if live:
        return f"training job {live[0].id} is still {live[0].status}"
    training = _versions_in_training(session)
    if training:
        return f"model v{training[0][0].id} is still training"
    return None


def ranking_in_progress(session: Session) -> str | None:
    """What is ranking the review queue now, in words (a prediction or ranking job: a
    pool-wide prediction run ranks the pool when it ends), or None. Dead jobs are failed first."""
    fail_dead_jobs(session)
    for kind in RANKING_KINDS:
        live = jobs_q.list_jobs(session, kind=kind, statuses=list(ACTIVE_STATUSES), limit=1)
        if live:
            return f"{kind} job {live[0].id} is still {live[0].status}"
    return None


def fail_dead_jobs(session: Session) -> list[int]:
    """Fail every queued or running job whose worker is gone; returns the ids failed now."""
    live = jobs_q.list_jobs(session, statuses=list(ACTIVE_STATUSES), limit=_LIVE_JOBS_CHECKED)
    return [job.id for job in live if fail_if_worker_gone(session, job).status == JobStatus.FAILED]


def fail_if_worker_gone(session: Session, job: Job) -> Job:
    """The job, failed first when it is queued or running but its worker process is gone."""
    if job.status not in ACTIVE_STATUSES or job.pid is None or _process_alive(job.pid):
        return job
    failed = jobs_q.update_job(
        session, job_id=job.id, status=JobStatus.FAILED, message=WORKER_EXITED
    )
    if failed.kind == "train":
        _fail_orphaned_versions(session, failed.id)
    return failed


def _fail_dead_trainings(session: Session) -> None:
    """Fail the versions in ``training`` whose training process on this host is gone (a killed
    ``tagger train``). Other hosts' trainings cannot be judged from here."""
    here = socket.gethostname()
    for version, config in _versions_in_training(session):
        trainer = config.get("trainer") or {}
        if trainer.get("host") == here and not _process_alive(trainer["pid"]):
            models_q.finish_model_version(
                session,
                model_version_id=version.id,
                status=ModelStatus.FAILED,
                notes=TRAINER_EXITED,
            )


def _fail_orphaned_versions(session: Session, job_id: int) -> None:
    """A model version its dead training job left in ``training`` will never finish: mark it
    failed."""
    for version, config in _versions_in_training(session):
        if config.get("job_id") == job_id:
            models_q.finish_model_version(
                session,
                model_version_id=version.id,
                status=ModelStatus.FAILED,
                notes=f"training job {job_id}: {WORKER_EXITED}",
            )


def _versions_in_training(session: Session) -> list[tuple[ModelVersion, dict[str, Any]]]:
    """Versions still ``training``, each with its parsed config (which says who trains it)."""
    return [
        (version, json.loads(version.config_json))
        for version in models_q.list_model_versions(session, limit=_LIVE_JOBS_CHECKED)
        if version.status == ModelStatus.TRAINING
    ]


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process; reaps it when it is our finished child."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child: ask the kernel instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
