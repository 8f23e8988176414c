"""dashboard/cache.py: the jobs that open pages ask about every 2 s are read from DuckDB again
only after a write, or while a job is queued or running."""

from __future__ import annotations

import pytest

from core.lifecycle import jobs
from dashboard import cache
from db.queries import jobs as jobs_q
from db.tables import JobStatus


def _ranking(db) -> str | None:
    job = cache.latest_ranking_job(db)
    return job.status if job else None


def _ingests(db) -> str | None:
    recent = cache.recent_jobs(db, kind="ingest", limit=3)
    return recent[0].status if recent else None


@pytest.mark.parametrize(
    ("ask", "read", "kind"),
    [(_ranking, "latest_ranking_job", "rank"), (_ingests, "list_jobs", "ingest")],
)
def test_a_job_is_read_again_after_a_write_or_while_one_runs(
    database, monkeypatch, ask, read, kind
):
    reads: list[int] = []
    reader = getattr(jobs, read)

    def counted(*args, **kwargs):
        reads.append(1)
        return reader(*args, **kwargs)

    def asked() -> tuple[str | None, int]:
        return ask(database), len(reads)

    monkeypatch.setattr(jobs, read, counted)
    first = [asked(), asked()]
    with database.session() as session:
        job_id = jobs_q.create_job(session, kind=kind).id
    queued = [asked(), asked()]
    with database.session() as session:
        jobs_q.update_job(session, job_id=job_id, status=JobStatus.SUCCEEDED)
    done = [asked(), asked()]
    if database.is_duckdb:
        assert first == [(None, 1), (None, 1)]
        assert queued == [("queued", 2), ("queued", 3)]
        assert done == [("succeeded", 4), ("succeeded", 4)]
    else:  # PostgreSQL: every time
        assert [n for _, n in first + queued + done] == [1, 2, 3, 4, 5, 6]
