"""dashboard/cache.py: the ranking job every open queue tab asks about every 2 s is read from
DuckDB again only after a write, or while a job is queued or running."""

from __future__ import annotations

from core.lifecycle import jobs
from dashboard import cache
from db.engine import Database
from db.queries import jobs as jobs_q
from db.tables import JobStatus


def test_the_ranking_job_is_read_again_after_a_write_or_while_one_runs(database, monkeypatch):
    reads: list[int] = []
    read = jobs.latest_ranking_job

    def counted(db: Database) -> jobs.JobInfo | None:
        reads.append(1)
        return read(db)

    def asked() -> tuple[str | None, int]:
        job = cache.latest_ranking_job(database)
        return (job.status if job else None), len(reads)

    monkeypatch.setattr(jobs, "latest_ranking_job", counted)
    first = [asked(), asked()]
    with database.session() as session:
        job_id = jobs_q.create_job(session, kind="rank").id
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
