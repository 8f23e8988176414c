"""Background jobs (train, ingest, predict): progress the dashboard polls."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from db.queries import NotFoundError, dump_json
from db.tables import Job, JobStatus, utcnow

_STATUSES = {status.value for status in JobStatus}
# PostgreSQL advisory locks of job starts: the two-key space (class, hash of the kind), apart from
# the one-key locks of schema changes and sign-ins
_JOB_START_LOCK_CLASS = 1


def lock_job_starts(session: Session, *, kind: str) -> None:
    """Serialise decisions to start a job of ``kind`` until this transaction ends (PostgreSQL), so
    that two servers checking "is a training running?" at once cannot both start one. DuckDB
    needs nothing here: the tagger's file lock already serialises units of work."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:cls, hashtext(:kind))"),
            {"cls": _JOB_START_LOCK_CLASS, "kind": kind},
        )


def create_job(
    session: Session,
    *,
    kind: str,
    created_by: int | None = None,
    params: dict[str, Any] | None = None,
) -> Job:
    job = Job(kind=kind, created_by=created_by, params_json=dump_json(params or {}))
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, *, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id}")
    return job


def update_job(
    session: Session,
    *,
    job_id: int,
    status: str | None = None,
    progress: float | None = None,
    message: str | None = None,
    metrics: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
    pid: int | None = None,
) -> Job:
    """Change only the given fields; ``progress`` is clamped to 0..1."""
    job = get_job(session, job_id=job_id)
    if status is not None:
        if status not in _STATUSES:
            raise ValueError(f"unknown job status {status!r}; expected one of {sorted(_STATUSES)}")
        job.status = str(status)
    if progress is not None:
        job.progress = min(1.0, max(0.0, float(progress)))
    if message is not None:
        job.message = message
    if metrics is not None:
        job.metrics_json = dump_json(metrics)
    if result is not None:
        job.result_json = dump_json(result)
    if pid is not None:
        job.pid = pid
    job.updated_at = utcnow()
    session.add(job)
    session.flush()
    return job


def list_jobs(
    session: Session, *, kind: str | None = None, statuses: list[str] | None = None, limit: int = 20
) -> list[Job]:
    """Newest first."""
    query = select(Job)
    if kind is not None:
        query = query.where(Job.kind == kind)
    if statuses:
        query = query.where(col(Job.status).in_(statuses))
    return list(session.exec(query.order_by(col(Job.id).desc()).limit(limit)))
