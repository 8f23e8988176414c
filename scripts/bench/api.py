"""HTTP API benchmark: ``python -m scripts.bench.api``.

Starts a real server (``streamlit run dashboard/server.py``, the dashboard and the API on one
port) on a fresh data directory (or ``--data-dir``, e.g. the demo's); without an active model it
first trains a small one on synthetic embeddings so that uploads get predicted. Then measures
and prints:

1. upload -> processed latency of one generated ``--clip-seconds`` clip: POST /api/v1/videos
   until its background ingest job (configured encoder, then the active model) is finished; the
   video is then predicted (an active model exists), ready (none does) or failed;
2. GET /api/v1/videos/{id} requests per second with ``--clients`` concurrent clients on
   loopback, over ``--videos`` bulk-inserted videos, with latency percentiles;
3. the server process's resident memory (VmRSS) after each phase.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from scripts.bench.common import REPO

if TYPE_CHECKING:
    from core.config import Settings
    from core.taxonomy import Taxonomy
    from db.engine import Database

READY_TIMEOUT_S = 180.0
SEED_LEAVES = ("Sports: Soccer", "Travel: Travel Locations")
SEED_VIDEOS = 16
SEED_TRAINING = {"n_ensemble": 1, "max_epochs": 30, "patience": 5, "d_model": 32, "n_heads": 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="GET load duration")
    parser.add_argument("--clip-seconds", type=float, default=60.0)
    parser.add_argument("--upload-timeout", type=float, default=900.0)
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--data-dir", type=Path, help="default: a fresh temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        run(args, data_dir, Path(tmp))


def run(args: argparse.Namespace, data_dir: Path, tmp: Path) -> None:
    env = {
        **os.environ,
        "TAGGER_DATA_DIR": str(data_dir.resolve()),
        "TAGGER_API_RATE_LIMIT_PER_MINUTE": "100000000",
    }
    os.environ.update(env)  # this process prepares the database with the same settings
    secret, video_ids = _prepare(args.videos, with_model=not args.skip_upload)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "dashboard" / "server.py")]
        + ["--server.port", str(port), "--server.headless", "true"]
        + ["--browser.gatherUsageStats", "false"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        _wait_ready(base)
        print(f"server pid {server.pid}, RSS after start: {_rss_mib(server.pid):.0f} MiB")
        if not args.skip_upload:
            seconds, status = _upload_latency(base, headers, tmp, args)
            print(
                f"upload -> {status}: {seconds:.1f} s for a {args.clip_seconds:.0f} s clip "
                f"(RSS now {_rss_mib(server.pid):.0f} MiB)"
            )
        rps, p50, p95, errors = _get_load(base, headers, video_ids, args.clients, args.seconds)
        print(
            f"GET /videos/{{id}} at {len(video_ids):,} videos, {args.clients} clients, "
            f"{args.seconds:.0f} s: {rps:.1f} requests/s, p50 {p50 * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms, {errors} errors "
            f"(RSS now {_rss_mib(server.pid):.0f} MiB)"
        )
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def _prepare(n_videos: int, *, with_model: bool) -> tuple[str, list[int]]:
    """Schema, IAB taxonomy, an admin with a token, ``n_videos`` synthetic videos, and (for the
    upload) an active model."""
    from core import taxonomy as taxonomy_core
    from core import tokens
    from core.config import get_settings
    from db.engine import get_database, init_db
    from db.queries import model_versions as models_q
    from db.queries import taxonomy as taxonomy_q
    from db.queries import users as users_q
    from db.queries import videos as videos_q

    settings = get_settings()
    settings.ensure_dirs()
    db = get_database(settings)
    init_db(db)
    with db.session() as session:
        if taxonomy_q.count_nodes(session) == 0:
            taxonomy_core.save_to_db(session, taxonomy_core.load_iab3())
        if users_q.get_user_by_name(session, username="bench") is None:
            users_q.create_user(session, username="bench", password_hash="x", role="admin")
        before = videos_q.count_videos(session)
        if before < n_videos:
            videos_q.insert_synthetic_videos(
                session, n=n_videos - before, prefix=f"bench-{time.time_ns()}-"
            )
        video_ids = videos_q.list_video_ids(session)
        has_model = models_q.get_active_model(session) is not None
    if with_model and not has_model:
        _train_a_model(db, settings, taxonomy_core.load_iab3())
    name = f"bench-{time.time_ns()}"
    secret = tokens.create_token(db, name=name, username="bench", scope="admin").secret
    return secret, video_ids


def _train_a_model(db: Database, settings: Settings, tax: Taxonomy) -> None:
    """An active model, so that uploads get predicted: trained by the product's code on synthetic
    embeddings stored under the configured encoder's cache key (no corpus to ingest first)."""
    import numpy as np

    from core.encoders import load_encoder
    from core.lifecycle import training
    from db.queries import embeddings as embeddings_q
    from db.queries import labels as labels_q
    from db.queries import videos as videos_q
    from db.tables import VideoStatus

    encoder = load_encoder(settings)
    rng = np.random.default_rng(0)
    leaves = [tax.find(path).id for path in SEED_LEAVES]
    with db.session() as session:
        for i in range(SEED_VIDEOS):
            video = videos_q.create_video(session, title=f"seed {i}", status=VideoStatus.READY)
            embeddings_q.put_embeddings(
                session,
                records=[
                    embeddings_q.EmbeddingRecord(
                        video.id,
                        m,
                        *encoder.cache_key,
                        f"bench-{m}{i}",
                        (rng.standard_normal(encoder.dims[m]) + 3 * (i % 2)).astype(np.float32),
                    )
                    for m in ("title", "frames")
                ],
            )
            labels_q.import_labels(session, labels=[(video.id, leaves[i % 2])])
    training.train_model(db, settings=settings, user=None, activate=True, params=SEED_TRAINING)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server did not answer within {READY_TIMEOUT_S:.0f} s")


def _upload_latency(
    base: str, headers: dict[str, str], tmp: Path, args: argparse.Namespace
) -> tuple[float, str]:
    from scripts.mediagen import gradient_frames, tone, write_video

    fps = 10
    count = int(args.clip_seconds * fps)
    clip = write_video(
        tmp / "bench.mp4",
        gradient_frames(count, 240, 320),
        fps,
        audio=tone(args.clip_seconds),
    )
    started = time.perf_counter()
    with clip.open("rb") as f:
        answer = httpx.post(
            f"{base}/videos",
            headers=headers,
            files={"file": ("bench.mp4", f, "video/mp4")},
            data={"title": "Benchmark clip", "description": f"nonce {time.time_ns()}"},
            timeout=120,
        )
    answer.raise_for_status()
    video_id, job_id = answer.json()["id"], answer.json()["job_id"]
    deadline = started + args.upload_timeout
    while time.perf_counter() < deadline:  # the job, not the video, says when processing is over
        job = httpx.get(f"{base}/jobs/{job_id}", headers=headers, timeout=30).json()
        if job["status"] in ("succeeded", "failed"):
            video = httpx.get(f"{base}/videos/{video_id}", headers=headers, timeout=30).json()
            return time.perf_counter() - started, video["status"]
        time.sleep(0.5)
    raise SystemExit(f"video {video_id} was not processed within {args.upload_timeout:.0f} s")


def _get_load(
    base: str, headers: dict[str, str], video_ids: list[int], clients: int, seconds: float
) -> tuple[float, float, float, int]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        mine: list[float] = []
        failed = 0
        with httpx.Client(headers=headers, timeout=30) as http:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                response = http.get(f"{base}/videos/{rng.choice(video_ids)}")
                if response.status_code == 200:
                    mine.append(time.perf_counter() - t0)
                else:
                    failed += 1
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    if not latencies:
        return 0.0, 0.0, 0.0, errors[0]
    cuts = statistics.quantiles(latencies, n=20)
    return len(latencies) / wall, statistics.median(latencies), cuts[18], errors[0]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
