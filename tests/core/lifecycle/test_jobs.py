"""Background jobs: the runner in-process (fast) and detached worker processes (slow)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time

import pytest

from core.config import Settings
from core.errors import ConfigurationError
from core.lifecycle import jobs, liveness, prediction
from db.engine import Database
from db.queries import jobs as jobs_q
from db.queries import model_versions as models_q
from db.tables import JobStatus, ModelStatus

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def active_model(tiny_model) -> int:
    """A tiny registered, active model (no videos to predict)."""
    return tiny_model(activate=True).id


def _queued(db: Database, kind: str, params: dict | None = None) -> int:
    with db.session() as session:
        return jobs_q.create_job(session, kind=kind, params=params or {}).id


def test_unknown_kind_is_refused_before_anything_is_created(db, settings):
    with pytest.raises(jobs.JobError, match="train, predict, ingest, rank"):
        jobs.start_job(db, kind="transcode", params={}, user=None, settings=settings)
    assert jobs.list_jobs(db) == []


def test_a_second_training_is_refused_while_one_runs(db, settings, launched):
    running = _queued(db, "train")
    with db.session() as session:  # this test process stands in for its live worker
        jobs_q.update_job(session, job_id=running, status=JobStatus.RUNNING, pid=os.getpid())
    with pytest.raises(jobs.JobError, match=f"training job {running} is still running"):
        jobs.start_job(db, kind="train", params={}, user=None, settings=settings)
    predict = jobs.start_job(db, kind="predict", params={}, user=None, settings=settings)
    _running_with_dead_worker(db)  # a killed training blocks nothing
    with db.session() as session:
        jobs_q.update_job(session, job_id=running, status=JobStatus.SUCCEEDED)
    again = jobs.start_job(db, kind="train", params={}, user=None, settings=settings)
    assert launched == [predict, again]


def test_a_worker_that_cannot_start_fails_its_job(db, settings, monkeypatch):
    def no_process(*args, **kwargs):
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    with pytest.raises(jobs.JobError, match="did not start: Resource temporarily unavailable"):
        jobs.start_job(db, kind="train", params={}, user=None, settings=settings)
    (info,) = jobs.list_jobs(db)
    assert info.status == JobStatus.FAILED and "did not start" in info.message


def test_runner_records_success_with_result(db, settings, active_model):
    job_id = _queued(db, "predict", {"all": True})
    info = jobs.run_job(db, job_id, settings=settings)
    assert info.status == JobStatus.SUCCEEDED and info.progress == 1.0
    assert info.result == {"videos": 0} and info.pid == os.getpid()
    with pytest.raises(jobs.JobError, match="not queued"):
        jobs.run_job(db, job_id, settings=settings)


def test_ingest_runner_reports_an_empty_folder_and_no_uploads(db, settings, tmp_path):
    (tmp_path / "empty").mkdir()
    folder = jobs.run_job(
        db, _queued(db, "ingest", {"paths": [str(tmp_path / "empty")]}), settings=settings
    )
    assert folder.status == JobStatus.SUCCEEDED, folder.message
    assert folder.result["failed"] == [] and folder.result["video_seconds"] == 0
    uploads = jobs.run_job(db, _queued(db, "ingest", {"video_ids": []}), settings=settings)
    assert uploads.status == JobStatus.SUCCEEDED and uploads.result == {"videos": []}


def test_runner_records_expected_failures_as_one_line(db, settings, monkeypatch, caplog):
    from core.taxonomy import from_paths, save_to_db

    with db.session() as session:
        save_to_db(session, from_paths([["A"], ["A", "1"]]))
    with caplog.at_level(logging.ERROR, logger="core.lifecycle.jobs"):
        info = jobs.run_job(db, _queued(db, "train"), settings=settings)
        no_model = jobs.run_job(db, _queued(db, "predict"), settings=settings)
    assert info.status == JobStatus.FAILED and "ingest videos before training" in info.message
    assert no_model.status == JobStatus.FAILED and "no model is active" in no_model.message
    assert "\n" not in info.message and not caplog.records  # expected: no traceback


def test_runner_records_and_logs_unexpected_errors(db, settings, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(prediction, "predict_videos", broken)
    with caplog.at_level(logging.ERROR, logger="core.lifecycle.jobs"):
        info = jobs.run_job(db, _queued(db, "predict"), settings=settings)
    assert info.status == JobStatus.FAILED and info.message == "RuntimeError: boom"
    assert any(record.exc_info for record in caplog.records)


def test_runner_records_any_tagger_error_as_its_message(db, settings, monkeypatch, caplog):
    def missing_model(*args, **kwargs):
        raise ConfigurationError("unknown encoder 'x'; valid encoders: imagebind, lite")

    monkeypatch.setattr(prediction, "predict_videos", missing_model)
    with caplog.at_level(logging.ERROR, logger="core.lifecycle.jobs"):
        info = jobs.run_job(db, _queued(db, "predict"), settings=settings)
    assert info.status == JobStatus.FAILED
    assert info.message == "unknown encoder 'x'; valid encoders: imagebind, lite"
    assert not caplog.records


def _running_with_dead_worker(db: Database) -> int:
    """A train job whose row says running while its worker process has already exited."""
    finished = subprocess.Popen(["true"])
    finished.wait()
    job_id = _queued(db, "train")
    with db.session() as session:
        jobs_q.update_job(session, job_id=job_id, status=JobStatus.RUNNING, pid=finished.pid)
    return job_id


def test_a_running_job_whose_process_is_gone_is_reported_failed(db):
    info = jobs.get_job(db, _running_with_dead_worker(db))
    assert info.status == JobStatus.FAILED and info.message == liveness.WORKER_EXITED


def test_a_dead_training_job_fails_the_version_it_left_training(db):
    job_id = _running_with_dead_worker(db)
    with db.session() as session:
        orphan = models_q.create_model_version(
            session, encoder_id="fake", encoder_version="v1", config={"job_id": job_id}
        ).id
        other = models_q.create_model_version(
            session, encoder_id="fake", encoder_version="v1", config={"job_id": job_id + 1}
        ).id
    assert jobs.get_job(db, job_id).status == JobStatus.FAILED
    with db.session() as session:
        assert (
            models_q.get_model_version(session, model_version_id=orphan).status
            == ModelStatus.FAILED
        )
        assert (
            models_q.get_model_version(session, model_version_id=other).status
            == ModelStatus.TRAINING
        )


def test_listing_versions_fails_those_a_dead_training_job_left(db, active_model):
    """Even when nobody reads the dead job itself: the version list shows the failure and why."""
    dead_job = _running_with_dead_worker(db)
    live_job = _queued(db, "train")
    with db.session() as session:
        jobs_q.update_job(session, job_id=live_job, status=JobStatus.RUNNING, pid=os.getpid())
        orphan = models_q.create_model_version(
            session, encoder_id="fake", encoder_version="v1", config={"job_id": dead_job}
        ).id
        training = models_q.create_model_version(
            session, encoder_id="fake", encoder_version="v1", config={"job_id": live_job}
        ).id

    listed = {v.id: v for v in liveness.list_model_versions(db)}

    assert listed[orphan].status == ModelStatus.FAILED
    assert listed[orphan].notes == f"training job {dead_job}: {liveness.WORKER_EXITED}"
    assert listed[training].status == ModelStatus.TRAINING  # its worker still runs
    assert [v.id for v in listed.values() if v.is_active] == [active_model]
    assert jobs.get_job(db, dead_job).status == JobStatus.FAILED
    assert jobs.get_job(db, live_job).status == JobStatus.RUNNING
    assert jobs.fail_dead_jobs(db) == []  # already done


def test_listing_versions_fails_a_killed_training_outside_any_job(db, active_model):
    """`tagger train` has no job row: the version's own trainer record (host, pid) is checked."""
    finished = subprocess.Popen(["true"])
    finished.wait()
    here = socket.gethostname()
    trainers = {
        "dead": {"host": here, "pid": finished.pid},
        "alive": {"host": here, "pid": os.getpid()},
        "elsewhere": {"host": here + "-other", "pid": finished.pid},
    }
    with db.session() as session:
        ids = {
            name: models_q.create_model_version(
                session,
                encoder_id="fake",
                encoder_version="v1",
                config={"job_id": None, "trainer": trainer},
            ).id
            for name, trainer in trainers.items()
        }

    listed = {v.id: v for v in liveness.list_model_versions(db)}

    assert listed[ids["dead"]].status == ModelStatus.FAILED
    assert listed[ids["dead"]].notes == liveness.TRAINER_EXITED
    assert listed[ids["alive"]].status == ModelStatus.TRAINING
    assert listed[ids["elsewhere"]].status == ModelStatus.TRAINING  # cannot be judged from here
    assert [v.id for v in listed.values() if v.is_active] == [active_model]


def test_settings_environment_recreates_the_settings(settings):
    env = jobs.settings_environment(settings)
    assert env["TAGGER_DATA_DIR"] == str(settings.data_dir.resolve())
    assert Settings(**{k.removeprefix("TAGGER_").lower(): v for k, v in env.items()}) == settings


# --- slow: detached worker processes ------------------------------------------------------------


def _wait(db: Database, job_id: int, until, timeout: float = 240) -> jobs.JobInfo:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = jobs.get_job(db, job_id)
        if until(info):
            return info
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} stuck: {jobs.get_job(db, job_id)}")


@pytest.mark.slow
def test_worker_process_lifecycle(db, settings, active_model):
    job_id = jobs.start_job(db, kind="predict", params={"all": True}, user=None, settings=settings)
    info = _wait(db, job_id, lambda i: i.finished)
    assert info.status == JobStatus.SUCCEEDED, (
        info,
        (settings.data_dir / "jobs" / f"{job_id}.log").read_text(),
    )
    assert (
        info.result == {"videos": 0}
        and info.progress == 1.0
        and info.pid not in (None, os.getpid())
    )


@pytest.mark.slow
def test_killed_worker_is_reported_failed(db, settings):
    job_id = jobs.start_job(db, kind="train", params={}, user=None, settings=settings)
    info = _wait(db, job_id, lambda i: i.status == JobStatus.RUNNING or i.finished)
    assert info.status == JobStatus.RUNNING  # loading the encoder takes seconds: still running
    os.kill(info.pid, signal.SIGKILL)
    info = _wait(db, job_id, lambda i: i.finished, timeout=30)
    assert info.status == JobStatus.FAILED and info.message == liveness.WORKER_EXITED
