"""All of the dashboard's caching, in one place.

- ``st.cache_resource``: the :class:`Database` (one engine per URL) and the taxonomy with its
  picker options (shared, read-only; cleared after a taxonomy import).
- ``st.cache_data(ttl=...)``: heavy read-only aggregates (analytics, status counts, model list).
  Queue pages, claims and the video being reviewed are never cached: they must be current.
- the jobs that pages' fragments ask about every 2 s (:func:`latest_ranking_job`,
  :func:`recent_jobs`): on DuckDB kept until something is written to the database
  (:mod:`db.unwritten`).
Every cached function takes the database URL so tests on different databases never share.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import streamlit as st

from core import taxonomy as taxonomy_core
from core.config import Settings, get_settings
from core.lifecycle import coverage, jobs, liveness, queue_ranking
from db.engine import Database, get_database, init_db
from db.queries import analytics, review, users
from db.tables import ModelVersion, ReviewPriority
from db.unwritten import UnwrittenAnswers

ANALYTICS_TTL_S = 60
COUNTS_TTL_S = 5
NO_RUNTIME_WARNING = "No runtime found, using MemoryCacheStorageManager"


def _without_the_import_time_warning(record: logging.LogRecord) -> bool:
    """The server imports this module (through the binary-mode route) before Streamlit's runtime
    starts; each ``st.cache_data`` below then checks its parameters on a throwaway in-memory
    store and warns once, nine warnings at every start that mean nothing: the caches take the
    runtime's store when first called."""
    return record.getMessage() != NO_RUNTIME_WARNING


logging.getLogger("streamlit.runtime.caching.cache_data_api").addFilter(
    _without_the_import_time_warning
)


@dataclass(frozen=True)
class TaxonomyView:
    """The stored taxonomy plus what the pickers need."""

    taxonomy: taxonomy_core.Taxonomy
    paths: dict[str, str]  # id -> full path
    options: list[str]  # ids ordered by path, for selectboxes that filter as you type

    def path(self, node_id: str) -> str:
        return self.paths.get(node_id, node_id)


@st.cache_resource(show_spinner=False)
def _database(url: str, lock_timeout_s: float) -> Database:
    settings = Settings(database_url=url, db_lock_timeout_s=lock_timeout_s)
    db = get_database(settings)
    init_db(db)
    return db


def database(settings: Settings | None = None) -> Database:
    settings = settings or get_settings()
    return _database(settings.resolved_database_url, settings.db_lock_timeout_s)


@st.cache_resource(show_spinner=False, ttl=600)
def _taxonomy(url: str) -> TaxonomyView | None:
    with database().session() as session:
        try:
            tax = taxonomy_core.load_from_db(session)
        except taxonomy_core.TaxonomyError:
            return None
    paths = {node.id: node.path for node in tax.nodes}
    return TaxonomyView(
        taxonomy=tax, paths=paths, options=sorted(paths, key=lambda i: paths[i].casefold())
    )


def taxonomy() -> TaxonomyView | None:
    """None until a taxonomy is imported."""
    return _taxonomy(database().url)


def clear_taxonomy() -> None:
    _taxonomy.clear()


@st.cache_data(ttl=COUNTS_TTL_S, show_spinner=False)
def queue_counts(url: str) -> dict[str, int]:
    with database().session() as session:
        return review.queue_counts(session)


@st.cache_data(ttl=COUNTS_TTL_S, show_spinner=False)
def priority_backlog(url: str) -> dict[ReviewPriority, review.PriorityBacklog]:
    with database().session() as session:
        return review.priority_backlog(session)


@st.cache_data(ttl=COUNTS_TTL_S, show_spinner=False)
def review_targets(url: str) -> dict[ReviewPriority, float]:
    """The admin's review targets (seconds per raised level): every Review page render shows
    one, so it is read at most every few seconds (cleared when an admin here changes them)."""
    with database().session() as session:
        return review.review_targets(session)


@st.cache_data(ttl=COUNTS_TTL_S, show_spinner=False)
def queue_cold_start(url: str) -> coverage.ColdStart | None:
    """Whether the queue's head is chosen by coverage (a count over every video: cached)."""
    return coverage.cold_start(database(), settings=get_settings())


@st.cache_data(ttl=COUNTS_TTL_S, show_spinner=False)
def queue_order_age(url: str) -> str | None:
    """When the queue's order was chosen, and what arrived since (a few queries: cached)."""
    return queue_ranking.describe_order(database(), settings=get_settings())


@st.cache_data(ttl=COUNTS_TTL_S, show_spinner=False)
def user_names(url: str) -> dict[int, str]:
    with database().session() as session:
        return {u.id: u.username for u in users.list_users(session)}


@st.cache_data(ttl=COUNTS_TTL_S, show_spinner=False)
def model_versions(url: str) -> list[ModelVersion]:
    """Versions a killed training left ``training`` are listed as failed (see
    core.lifecycle.liveness)."""
    return liveness.list_model_versions(database(), limit=100)


@st.cache_data(ttl=ANALYTICS_TTL_S, show_spinner=False)
def label_distribution(
    url: str, parent_id: str | None, source: str | None
) -> list[analytics.TagCount]:
    with database().session() as session:
        return analytics.label_distribution(session, parent_id=parent_id, source=source)


@st.cache_data(ttl=ANALYTICS_TTL_S, show_spinner=False)
def throughput(url: str, since: datetime) -> list[analytics.ThroughputRow]:
    with database().session() as session:
        return analytics.moderator_throughput(session, since=since)


@st.cache_data(ttl=ANALYTICS_TTL_S, show_spinner=False)
def priority_turnaround(url: str, since: datetime) -> list[analytics.PriorityTurnaround]:
    with database().session() as session:
        return analytics.priority_turnaround(
            session, since=since, targets=review.review_targets(session)
        )


@st.cache_data(ttl=ANALYTICS_TTL_S, show_spinner=False)
def disagreement(url: str, model_version_id: int) -> list[analytics.TagDisagreement]:
    with database().session() as session:
        return analytics.disagreement_by_tag(session, model_version_id=model_version_id)


@st.cache_data(ttl=ANALYTICS_TTL_S, show_spinner=False)
def label_suspects(
    url: str, model_version_id: int, min_confidence: float
) -> list[analytics.LabelSuspect]:
    with database().session() as session:
        return analytics.likely_label_errors(
            session, model_version_id=model_version_id, min_confidence=min_confidence
        )


# the jobs the pages' every-2-s fragments ask about, kept while the database is unwritten and
# no job is queued or running (see db.unwritten)
_job_answers = UnwrittenAnswers()


def _finished(job: jobs.JobInfo | None) -> bool:
    return job is None or job.status not in liveness.ACTIVE_STATUSES


def latest_ranking_job(db: Database) -> jobs.JobInfo | None:
    """:func:`jobs.latest_ranking_job` (the Review queue and Models pages ask every 2 s)."""
    return _job_answers.ask(db, "ranking job", lambda: jobs.latest_ranking_job(db), keep=_finished)


def recent_jobs(db: Database, *, kind: str, limit: int) -> list[jobs.JobInfo]:
    """:func:`jobs.list_jobs` of ``kind`` (the Models and Ingest pages ask every 2 s)."""
    return _job_answers.ask(
        db,
        ("jobs", kind, limit),
        lambda: jobs.list_jobs(db, kind=kind, limit=limit),
        keep=lambda recent: all(_finished(job) for job in recent),
    )


def clear_data() -> None:
    """After a write that changes aggregates (review saved, model promoted, ...)."""
    st.cache_data.clear()
