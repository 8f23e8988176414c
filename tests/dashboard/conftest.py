"""Dashboard fixtures: a seeded tmp DuckDB (IAB taxonomy, two users, predicted videos) and a
signed-in AppTest of the router."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import auth
from core import taxonomy as taxonomy_core
from core.config import Settings
from db.engine import Database, get_database
from db.queries import jobs as job_queries
from db.queries import model_versions as models
from db.queries import videos
from db.queries.model_versions import PredictionRow
from db.queries.videos import PredictionSummary
from db.tables import VideoStatus
from tests.support.signin import sign_in_apptest
from tests.support.templates import DuckdbTemplates, duckdb_path

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PASSWORD = "correct horse battery"
RUN_TIMEOUT_S = 60


@dataclass(frozen=True)
class Seeded:
    db: Database
    settings: Settings
    video_ids: list[int]  # most uncertain first
    model_id: int


def _soccer_and_music(tax: taxonomy_core.Taxonomy) -> tuple[str, str, str, str]:
    sports = tax.find("Sports").id
    soccer = tax.find("Sports: Soccer").id
    music = tax.find("Fine Art").id
    tennis = tax.find("Sports: Tennis").id
    return sports, soccer, music, tennis


@pytest.fixture
def seeded(settings: Settings, duckdb_templates: DuckdbTemplates) -> Iterator[Seeded]:
    """4 predicted videos (uncertainty .8,.6,.4,.2; Sports: Soccer predicted), a transcript on the
    first, a hostile title on the second, users `mod` (moderator) and `boss` (admin)."""
    st.cache_data.clear()
    st.cache_resource.clear()
    ids, model_id = duckdb_templates.copy_to(
        duckdb_path(settings.resolved_database_url), "dashboard-seeded", _seed
    )
    db = get_database(settings)
    yield Seeded(db=db, settings=settings, video_ids=ids, model_id=model_id)
    st.cache_data.clear()
    st.cache_resource.clear()


def _seed(db: Database) -> tuple[list[int], int]:
    """What ``seeded`` stores (once per test process: tests get a copy); returns the video ids
    and the model version's id."""
    tax = taxonomy_core.load_iab3()
    sports, soccer, music, tennis = _soccer_and_music(tax)
    with db.session() as s:
        taxonomy_core.save_to_db(s, tax)
    auth.create_user(db, username="mod", password=PASSWORD, role="moderator")
    auth.create_user(db, username="boss", password=PASSWORD, role="admin")
    titles = [
        "Cup final highlights",
        "<b>bold</b> [click](http://evil.example) **x**",
        "Piano lesson",
        "Derby",
    ]
    with db.session() as s:
        model = models.create_model_version(s, encoder_id="lite", encoder_version="1")
        models.finish_model_version(
            s,
            model_version_id=model.id,
            status="ready",
            metrics={
                "micro_auprc": 0.5,
                "hierarchical_f1": 0.6,
                "f1_level_1": 0.7,
                "f1_level_2": 0.4,
            },
        )
        models.set_active_model(s, model_version_id=model.id)
        ids = [
            videos.create_video(
                s,
                title=t,
                description=f"desc {i} <script>alert(1)</script>",
                status=VideoStatus.READY,
            ).id
            for i, t in enumerate(titles)
        ]
        rows = []
        for vid in ids:
            rows += [
                PredictionRow(vid, sports, 0.95, True),
                PredictionRow(vid, soccer, 0.9, True),
                PredictionRow(vid, music, 0.3, False),
                PredictionRow(vid, tennis, 0.2, False),
            ]
        models.put_predictions(s, model_version_id=model.id, rows=rows)
        videos.set_prediction_summaries(
            s,
            model_version_id=model.id,
            summaries=[
                PredictionSummary(v, u, soccer)
                for v, u in zip(ids, (0.8, 0.6, 0.4, 0.2), strict=True)
            ],
        )
        videos.put_transcript(
            s,
            video_id=ids[0],
            source="provided",
            text="kick off goal",
            segments=[
                {"start": 0.0, "end": 2.0, "text": "Kick off"},
                {"start": 12.5, "end": 14.0, "text": "Goal!"},
            ],
        )
    return ids, model.id


def _new_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S)


def _sign_in(at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    return sign_in_apptest(at, username, password)


@pytest.fixture
def new_app() -> Callable[[], AppTest]:
    """A fresh, not yet run AppTest of the router."""
    return _new_app


@pytest.fixture
def sign_in() -> Callable[..., AppTest]:
    """``sign_in(at, username, password=PASSWORD)`` signs the session in (as the sign-in route
    would) and runs it; a wrong password raises ``core.auth.InvalidCredentialsError``."""
    return _sign_in


@pytest.fixture
def signed_in(seeded: Seeded) -> Callable[[str], AppTest]:
    """``signed_in("mod")`` -> an AppTest signed in as that user, on the default page."""

    def make(username: str) -> AppTest:
        at = _sign_in(_new_app(), username)
        assert not at.exception, at.exception
        return at

    return make


@pytest.fixture
def running_prediction_job(seeded: Seeded) -> Callable[..., int]:
    """``running_prediction_job(progress=, message=, kind=)`` stores a prediction job (or a
    ranking job: ``kind="rank"``) running in this process (so it is alive) at that step; returns
    its id."""

    def make(*, progress: float, message: str, kind: str = "predict") -> int:
        with seeded.db.session() as s:
            job = job_queries.create_job(s, kind=kind, params={"all": True})
            job_queries.update_job(
                s,
                job_id=job.id,
                status="running",
                pid=os.getpid(),
                progress=progress,
                message=message,
            )
            return job.id

    return make
