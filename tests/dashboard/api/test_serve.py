"""End to end over a real socket: `tagger serve` in a subprocess (dashboard and API in one
server), a real clip POSTed to /api/v1/videos, processed by a real background ingest job with the
configured (lite) encoder and predicted by an active model, and the signed `video.predicted`
webhook received on loopback, the server ranking the upload into the review queue's order by itself;
and the server retraining by itself when its policy says so. The
model is trained by the product's code on synthetic embeddings stored under the lite encoder's
cache key (as the browser test does), so no corpus is ingested."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core import quality, tokens, webhooks
from core import review as review_rules
from core import taxonomy as taxonomy_core
from core.config import Settings
from core.lifecycle import jobs
from db.engine import get_database
from db.queries import model_versions, users, videos
from scripts.mediagen import gradient_frames, tone, write_video
from tests.support.catalogue import trained_catalogue
from tests.support.webhooks import Receiver

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
LEAVES = ["Sports: Soccer", "Travel: Travel Locations"]
SERVER_START_S = 120
PROCESSING_S = 240
SECRET = "loopback-webhook-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed(settings: Settings) -> str:
    """IAB taxonomy, an active model over title+frames, a write token; returns its secret."""
    trained_catalogue(settings, leaves=LEAVES, n_videos=16)
    db = get_database(settings)
    with db.session() as s:
        users.create_user(s, username="platform", password_hash="x", role="moderator")
    return tokens.create_token(db, name="platform", username="platform", scope="write").secret


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, str]]:
    secret = _seed(settings)
    port = _free_port()
    log = (settings.data_dir / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "scripts", "serve", "--port", str(port)],
        cwd=ROOT,
        env={
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TAGGER_WEBHOOK_POLL_S": "0.2",
            "TAGGER_RETRAIN_POLL_S": "0.5",
            "TAGGER_RERANK_AFTER_S": "2",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the server's own children (jobs, workers) go with the group
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(
                        (settings.data_dir / "serve.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.5)
        yield base, secret
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()


def test_a_real_clip_posted_to_a_real_server_gets_predicted(served, settings, tmp_path):
    base, secret = served
    receiver = Receiver([])
    try:
        webhooks.add_subscriber(get_database(settings), url=receiver.url, secret=SECRET)
        clip = write_video(tmp_path / "upload.mp4", gradient_frames(20), 10, audio=tone(2.0))
        auth = {"Authorization": f"Bearer {secret}"}
        with clip.open("rb") as f:
            answer = httpx.post(
                f"{base}/videos",
                headers=auth,
                files={"file": ("upload.mp4", f, "video/mp4")},
                data={"title": "Cup final", "description": "two teams", "external_id": "e2e-1"},
                timeout=60,
            )
        assert answer.status_code == 202, answer.text
        video_id, job_id = answer.json()["id"], answer.json()["job_id"]
        deadline = time.monotonic() + PROCESSING_S  # the video is ready before it is predicted:
        while time.monotonic() < deadline:  # the job says when processing is over
            job = httpx.get(f"{base}/jobs/{job_id}", headers=auth, timeout=30).json()
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(1)
        assert job["status"] == "succeeded", job
        video = httpx.get(f"{base}/videos/{video_id}?tree=true", headers=auth, timeout=30).json()
        assert video["status"] == "predicted", video
        # the synthetic training data says little about this clip: tags above the thresholds
        # may be none, but the stored prediction is there, as a consistent tree
        assert video["model_version"] is not None and video["tree"]
        assert all(
            c["probability"] <= t["probability"] for t in video["tree"] for c in t["children"]
        )
        assert 1.5 < video["duration_s"] < 2.5
        _wait_for_the_upload_to_be_ranked(settings, video_id)
        log = (settings.data_dir / "serve.log").read_text()  # the product's lines, with a level
        assert " INFO core.lifecycle.queue_ranking: review queue: started rank job " in log
        assert "No runtime found" not in log  # Streamlit's import-time noise (dashboard/cache.py)
        deadline = time.monotonic() + 30
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.2)
        _check_health_and_metrics(base, auth)
    finally:
        receiver.close()
    [(headers, body)] = receiver.requests
    assert webhooks.verify(
        SECRET, headers["X-Tagger-Timestamp"], body, headers["X-Tagger-Signature"]
    )
    assert json.loads(body)["video"] == {**json.loads(body)["video"], "id": video_id}
    assert headers["X-Tagger-Event"] == "video.predicted"


def _check_health_and_metrics(base: str, auth: dict[str, str]) -> None:
    """The probes see the server's four threads going and its database ready; the metrics
    counted the upload under its route and see the 17 stored videos."""
    health = httpx.get(f"{base}/health", timeout=30).json()
    threads = {thread["name"]: thread for thread in health["threads"]}
    assert health["alive"] and set(threads) == {
        "webhook-sender",
        "overdue-reviews",
        "retrain-watcher",
        "rank-watcher",
    }
    assert threads["webhook-sender"]["last_round_at"] is not None
    ready = httpx.get(f"{base}/ready", timeout=30)
    assert ready.status_code == 200, ready.text
    metrics = httpx.get(f"{base}/metrics", headers=auth, timeout=30)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.text)
        for sample in family.samples
    }
    upload = (("handler", "/api/v1/videos"), ("method", "POST"), ("status", "202"))
    assert samples["tagger_http_requests_total", upload] == 1
    assert sum(v for (name, _), v in samples.items() if name == "tagger_videos") == 17
    assert samples["tagger_background_thread_up", (("thread", "rank-watcher"),)] == 1


def _wait_for_the_upload_to_be_ranked(settings: Settings, video_id: int) -> None:
    """The upload was predicted on its own, so it waits unranked; 2 s later the server's ranker
    starts a rank job, which predicts the rest of the pool and gives every video its place."""
    db = get_database(settings)
    deadline = time.monotonic() + PROCESSING_S
    ranking: list[jobs.JobInfo] = []
    while time.monotonic() < deadline:
        ranking = jobs.list_jobs(db, kind="rank")
        if ranking and ranking[0].finished:
            break
        time.sleep(1)
    (job,) = ranking
    assert job.status == "succeeded", (settings.data_dir / "jobs" / f"{job.id}.log").read_text()
    with db.session() as s:
        assert videos.get_video(s, video_id=video_id).review_rank is not None
        assert videos.get_queue_ranking(s).videos == 17  # the 16 catalogue videos and the upload


def test_the_server_retrains_by_itself_when_the_policy_says_so(served, settings):
    """The server's watcher starts the retrain in the background once a review makes the policy
    due; the job trains with the product's settings, its promotion rule makes it live, and a
    prediction job gives the pool the new version's suggestions."""
    db = get_database(settings)
    with db.session() as s:
        quality.set_retrain_policy(
            s, mode="after_labels", every_hours=24, after_labels=1, min_gain=-1.0, user=None
        )
        active = model_versions.get_active_model(s).id
        video = videos.get_video(s, video_id=1)
        moderator = users.get_user_by_name(s, username="platform")
        leaf = taxonomy_core.load_iab3().find(LEAVES[0]).id
        review_rules.save_review(
            s, video_id=1, expected_version=video.version, node_ids=[leaf], user=moderator
        )
    deadline = time.monotonic() + PROCESSING_S
    while time.monotonic() < deadline:
        trainings = jobs.list_jobs(db, kind="train")
        if trainings and trainings[0].finished:
            break
        time.sleep(1)
    (job,) = trainings  # one, though the policy stayed due while it ran
    assert job.status == "succeeded", (job, (settings.data_dir / "jobs" / f"{job.id}.log"))
    assert job.params["policy"].startswith("1 videos reviewed since the last run")
    new = job.result["model_version_id"]
    assert job.result["policy"].startswith(f"v{new} trained (1 videos reviewed")
    assert "; promoted: held-out AU(PRC) " in job.result["policy"]
    with db.session() as s:
        assert model_versions.get_active_model(s).id == new != active
    predict_job = job.result["predict_job_id"]  # the pool, predicted by the new version
    while time.monotonic() < deadline and not jobs.get_job(db, predict_job).finished:
        time.sleep(1)
    assert jobs.get_job(db, predict_job).status == "succeeded"
    with db.session() as s:
        assert {v.predicted_model_id for v in videos.list_videos(s)} == {new}
