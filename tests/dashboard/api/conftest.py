"""API fixtures: an initialised database of each backend (the root ``database`` fixture) with a
small taxonomy, an admin and a moderator, one token per scope, and a TestClient of
``create_api()`` whose background jobs run in the test's thread with the fake encoder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from core import tokens
from core.config import Settings
from core.ingest import batch
from core.lifecycle import jobs
from core.taxonomy import from_paths, save_to_db
from dashboard.api import create_api
from db.engine import Database
from db.queries import jobs as jobs_q
from db.queries import model_versions as models_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.tables import JobStatus, VideoStatus
from scripts.mediagen import tone, write_video
from tests.support.fakes import FakeEncoder, FakeTranscriber

PATHS = [["Sports", "Soccer"], ["Sports", "Golf"], ["News", "Politics"]]


@dataclass
class FakeJobs:
    """Records started jobs; runs ingest jobs at once with the fake encoder (no subprocess)."""

    settings: Settings
    started: list[tuple[str, dict]] = field(default_factory=list)

    def __call__(self, db: Database, *, kind, params, user, settings) -> int:
        with db.session() as session:
            if kind == "train":  # the real starter's rule
                jobs.refuse_second_training(session)
            job_id = jobs_q.create_job(session, kind=kind, created_by=user.id, params=params).id
        self.started.append((kind, params))
        if kind == "ingest":
            for video_id in params["video_ids"]:
                batch.process_upload(
                    db,
                    video_id,
                    settings=settings,
                    encoder=FakeEncoder(),
                    transcriber=FakeTranscriber(),
                )
            with db.session() as session:
                jobs_q.update_job(session, job_id=job_id, status=JobStatus.SUCCEEDED)
        return job_id


@dataclass
class Api:
    client: TestClient
    db: Database
    settings: Settings
    jobs: FakeJobs
    secrets: dict[str, str]  # scope -> bearer secret
    tax: object

    def auth(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[scope]}"}

    def node(self, path: str) -> str:
        return self.tax.find(path).id


@pytest.fixture
def api(database: Database, settings: Settings) -> Iterator[Api]:
    settings.num_keyframes = 2
    tax = from_paths(PATHS)
    with database.session() as session:
        save_to_db(session, tax)
        users_q.create_user(session, username="boss", password_hash="x", role="admin")
        users_q.create_user(session, username="mod", password_hash="x", role="moderator")
    secrets = {
        scope: tokens.create_token(
            database, name=f"t-{scope}", username="boss" if scope == "admin" else "mod", scope=scope
        ).secret
        for scope in ("read", "write", "admin")
    }
    fake_jobs = FakeJobs(settings)
    app = create_api(settings=settings, db=database, start_job=fake_jobs)
    with TestClient(app) as client:
        yield Api(client, database, settings, fake_jobs, secrets, tax)


@pytest.fixture
def clip(tmp_path: Path):
    """``clip(shade)`` -> bytes of a 1 s mp4 with sound; distinct shades, distinct bytes."""

    def make(shade: int = 90) -> bytes:
        frames = [np.full((48, 64, 3), shade, np.uint8) for _ in range(10)]
        path = write_video(tmp_path / f"clip{shade}.mp4", frames, 10, audio=tone(1.0))
        return path.read_bytes()

    return make


def predict(api: Api, video_id: int, probabilities: dict[str, tuple[float, bool]]) -> int:
    """Store a prediction (path -> (probability, predicted)) of a new model version."""
    with api.db.session() as session:
        version = models_q.create_model_version(session, encoder_id="fake", encoder_version="v1")
        models_q.put_predictions(
            session,
            model_version_id=version.id,
            rows=[
                models_q.PredictionRow(
                    video_id=video_id, node_id=api.node(path), probability=p, is_predicted=on
                )
                for path, (p, on) in probabilities.items()
            ],
        )
        videos_q.set_prediction_summaries(
            session,
            model_version_id=version.id,
            summaries=[
                videos_q.PredictionSummary(video_id=video_id, uncertainty=0.3, top_tag=None)
            ],
        )
    return version.id


def add_video(api: Api, **kwargs) -> int:
    with api.db.session() as session:
        video = videos_q.create_video(session, **kwargs)
        if kwargs.get("status") is None:
            videos_q.set_status(session, video_id=video.id, status=VideoStatus.READY)
        return video.id
