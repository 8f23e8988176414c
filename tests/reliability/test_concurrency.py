"""Concurrent moderators (threads and processes) saving reviews of the same videos with expected
versions, while an ingest and a retrain run: no lost update, no deadlock, the loser of a race gets
``StaleVersionError``; concurrent ``claim_next`` never hands one video to two moderators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from core import backup
from core import review as review_rules
from core.config import Settings
from db.engine import Database
from db.queries import StaleVersionError
from db.queries import audit as audit_q
from db.queries import embeddings as embeddings_q
from db.queries import labels as labels_q
from db.queries import model_versions as models_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.tables import AuditAction, ModelStatus, VideoStatus

ROOT = Path(__file__).resolve().parents[2]
JOIN_TIMEOUT_S = 300  # liveness bound: a deadlock shows as a thread or process still running


@dataclass(frozen=True)
class Ack:
    video_id: int
    version: int
    node_ids: tuple[str, ...]
    user_id: int


def _choices(taxonomy) -> list[list[str]]:
    ids = [
        taxonomy.find(p).id
        for p in ("Sports: Soccer", "Sports: Tennis", "Music: Rock", "Music: Jazz", "Music")
    ]
    return [[ids[0]], [ids[1], ids[2]], [], [ids[3]], [ids[4], ids[0]]]


def _moderators(db, n: int, prefix: str) -> list:
    with db.session() as session:  # no argon2 here: these accounts never sign in
        return [
            users_q.create_user(session, username=f"{prefix}{i}", password_hash="unused")
            for i in range(n)
        ]


def _verify_no_lost_update(db, video_ids: list[int], acks: list[Ack], conflicts: int) -> None:
    """Every acknowledged save is in the audit trail with its author; versions went up by exactly
    one per acknowledged save; the final labels are those of the last acknowledged save."""
    by_video: dict[int, list[Ack]] = defaultdict(list)
    for ack in acks:
        by_video[ack.video_id].append(ack)
    with db.session() as session:
        saved = audit_q.list_audit(session, action=AuditAction.REVIEW_SAVED, limit=100_000)
        trail = {
            (e.video_id, json.loads(e.detail_json)["version"]): (
                e.user_id,
                tuple(json.loads(e.detail_json)["node_ids"]),
            )
            for e in saved
        }
        assert len(trail) == len(saved) == len(acks)  # one audit row per save, no version twice
        for video_id in video_ids:
            mine = sorted(by_video[video_id], key=lambda a: a.version)
            video = videos_q.get_video(session, video_id=video_id)
            assert [a.version for a in mine] == list(range(1, video.version + 1)), (
                "a save was lost or doubled"
            )
            for ack in mine:
                assert trail[(video_id, ack.version)] == (ack.user_id, tuple(sorted(ack.node_ids)))
            final = review_rules.effective_labels(session, video_ids=[video_id]).get(video_id, [])
            if mine:
                assert final == sorted(mine[-1].node_ids)
    assert conflicts > 0, "the sessions never raced; the test proves nothing"


def _run_all(work, n: int) -> None:
    """``work(k)`` for k < n on n threads at once; re-raises their errors; a deadlock shows as a
    thread still running after JOIN_TIMEOUT_S."""
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(work, k) for k in range(n)]
        _, running = wait(futures, timeout=JOIN_TIMEOUT_S)
        assert not running, "deadlock: a session never finished"
        for future in futures:
            future.result()


def test_threads_saving_the_same_videos_lose_nothing(db, taxonomy, tally):
    n_threads, rounds = 6, 5
    choices = _choices(taxonomy)
    moderators = _moderators(db, n_threads, "t")
    with db.session() as session:
        video_ids = [
            videos_q.create_video(session, title=f"v{i}", status=VideoStatus.PREDICTED).id
            for i in range(3)
        ]
    acks: list[Ack] = []
    conflicts: list[int] = []
    barrier = threading.Barrier(n_threads)

    def moderator(k: int) -> None:
        user = moderators[k]
        for r in range(rounds):
            video_id = video_ids[(k + r) % len(video_ids)]
            with db.session() as session:  # the page reads the version it shows ...
                version = videos_q.get_video(session, video_id=video_id).version
            choice = choices[(k * rounds + r) % len(choices)]
            barrier.wait(timeout=JOIN_TIMEOUT_S)
            try:
                with db.session() as session:  # ... and saves against it later
                    video = review_rules.save_review(
                        session,
                        video_id=video_id,
                        expected_version=version,
                        node_ids=choice,
                        user=user,
                    )
                acks.append(Ack(video_id, video.version, tuple(choice), user.id))
            except StaleVersionError:
                conflicts.append(video_id)

    _run_all(moderator, n_threads)
    assert len(acks) + len(conflicts) == n_threads * rounds
    _verify_no_lost_update(db, video_ids, acks, len(conflicts))
    tally["concurrent sessions run (threads)"] += n_threads
    tally["concurrent saves acknowledged"] += len(acks)
    tally["stale-version conflicts reported"] += len(conflicts)


def test_concurrent_claims_never_share_a_video(db, taxonomy, tally):
    n_threads = 6
    moderators = _moderators(db, n_threads, "c")
    with db.session() as session:
        ids = [
            videos_q.create_video(session, title=f"q{i}", status=VideoStatus.PREDICTED).id
            for i in range(18)
        ]
    claims: dict[int, list[int]] = defaultdict(list)
    barrier = threading.Barrier(n_threads)

    def claimer(k: int) -> None:
        barrier.wait(timeout=JOIN_TIMEOUT_S)
        while True:
            with db.session() as session:
                video = review_rules.claim_next(
                    session, user=moderators[k], claim_minutes=20, exclude_ids=claims[k]
                )
            if video is None:
                return
            claims[k].append(video.id)

    _run_all(claimer, n_threads)
    everything = [v for mine in claims.values() for v in mine]
    assert sorted(everything) == sorted(ids)  # each video claimed exactly once
    with db.session() as session:
        for k, mine in claims.items():
            for video_id in mine:
                assert videos_q.get_video(session, video_id=video_id).claimed_by == moderators[k].id
    tally["concurrent sessions run (threads)"] += n_threads


def test_review_audit_records_the_version_as_a_number(db, taxonomy, accounts):
    """Regression: the ``review_saved`` detail held the RETURNING row's repr, ``"(1,)"``."""
    with db.session() as session:
        video_id = videos_q.create_video(session, title="x").id
    with db.session() as session:
        review_rules.save_review(
            session, video_id=video_id, expected_version=0, node_ids=[], user=accounts["mod"]
        )
        [entry] = audit_q.list_audit(session, action=AuditAction.REVIEW_SAVED)
    assert json.loads(entry.detail_json)["version"] == 1


# --- processes: moderators, an ingest and a retrain at the same time ----------------------------

_SAVER = textwrap.dedent(
    """
    import json, random, sys, time
    from pathlib import Path
    from db.engine import Database
    from core import review as review_rules
    from db.queries import StaleVersionError, labels, users, videos
    db = Database(sys.argv[1])
    user_id, rounds = int(sys.argv[2]), int(sys.argv[3])
    video_ids, choices = json.loads(sys.argv[4]), json.loads(sys.argv[5])
    go, stop = Path(sys.argv[6]), Path(sys.argv[7])
    with db.session() as s:
        user = users.get_user(s, user_id=user_id)
    print("READY", flush=True)
    while not go.exists():  # every saver starts at once
        time.sleep(0.01)
    r = 0
    # at least `rounds`, and until the ingest and retrain ended
    while r < rounds or not stop.exists():
        r += 1
        video_id = video_ids[(user_id + r) % len(video_ids)]
        with db.session() as s:
            version = videos.get_video(s, video_id=video_id).version
        time.sleep(random.random() * 0.05)  # the moderator looks at the page
        choice = choices[(user_id * rounds + r) % len(choices)]
        try:
            with db.session() as s:
                video = review_rules.save_review(
                    s, video_id=video_id, expected_version=version, node_ids=choice, user=user
                )
        except StaleVersionError:
            print("CONFLICT", video_id, flush=True)
        else:
            print("ACK", video_id, video.version, json.dumps(choice), flush=True)
    """
)

_TRAINER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    from core.lifecycle import training
    from core.config import get_settings
    from db.engine import Database

    settings = get_settings()
    db = Database(settings.resolved_database_url)
    print("READY", flush=True)
    while not Path(sys.argv[1]).exists():  # start together with the moderators
        time.sleep(0.01)
    params = {"n_ensemble": 1, "max_epochs": 30, "patience": 30, "d_model": 8,
              "n_heads": 2, "n_layers": 1, "mlp_width": 16, "batch_size": 8}
    version = training.train_model(db, settings=settings, user=None, activate=True,
                                   encoder_key=("fake", "v1"), params=params)
    print("TRAINED", version.id, flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_processes_save_while_ingest_and_retrain_run(
    db, settings, taxonomy, hostile, tmp_path, tally
):
    n_savers, rounds = 4, 12
    choices = _choices(taxonomy)
    moderators = _moderators(db, n_savers, "p")
    rng = np.random.default_rng(0)
    leaves = [
        taxonomy.find(p).id
        for p in ("Sports: Soccer", "Sports: Tennis", "Music: Rock", "Music: Jazz")
    ]
    with db.session() as session:
        video_ids = [
            videos_q.create_video(session, title=f"v{i}", status=VideoStatus.PREDICTED).id
            for i in range(3)
        ]
        for i in range(16):  # the retrain's data
            video = videos_q.create_video(session, title=f"train{i}", status=VideoStatus.READY)
            embeddings_q.put_embeddings(
                session,
                records=[
                    embeddings_q.EmbeddingRecord(
                        video.id,
                        "title",
                        "fake",
                        "v1",
                        f"h{i}",
                        rng.standard_normal(8).astype(np.float32) + i % 4,
                    )
                ],
            )
            labels_q.import_labels(session, labels=[(video.id, leaves[i % 4])])
    folder = tmp_path / "in"
    for i in range(4):
        hostile.clip(folder / f"new{i}.mp4", 30 + 40 * i, seconds=0.5, audio=False)
    env = {**os.environ, "TAGGER_DATA_DIR": str(settings.data_dir), "TAGGER_NUM_KEYFRAMES": "2"}
    scripts = {name: tmp_path / f"{name}.py" for name in ("saver", "trainer")}
    scripts["saver"].write_text(_SAVER)
    scripts["trainer"].write_text(_TRAINER)

    def spawn(*args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    go, stop = tmp_path / "go", tmp_path / "stop"
    savers = [
        spawn(
            str(scripts["saver"]),
            db.url,
            str(m.id),
            str(rounds),
            json.dumps(video_ids),
            json.dumps(choices),
            str(go),
            str(stop),
        )
        for m in moderators
    ]
    trainer = spawn(str(scripts["trainer"]), str(go))
    for process in [*savers, trainer]:
        assert process.stdout.readline() == "READY\n"
    go.touch()
    cli = subprocess.Popen(
        [str(Path(sys.executable).with_name("tagger")), "ingest", str(folder)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # the real CLI
    workers = [cli, trainer]
    time.sleep(1.0)  # a backup in the middle of it all must still be one consistent snapshot
    mid_run = backup.create_backup(db, tmp_path / "mid-run.tar", settings=settings).path
    outputs = {}
    for process in workers:  # liveness: communicate raises if anything deadlocked
        outputs[process], err = process.communicate(timeout=JOIN_TIMEOUT_S)
        assert process.returncode == 0, err
    stop.touch()
    for process in savers:
        outputs[process], err = process.communicate(timeout=JOIN_TIMEOUT_S)
        assert process.returncode == 0, err

    acks, conflicts = [], 0
    for moderator, saver in zip(moderators, savers, strict=True):
        out = outputs[saver]
        for line in out.splitlines():
            kind, *rest = line.split(" ", 3)
            if kind == "ACK":
                acks.append(
                    Ack(int(rest[0]), int(rest[1]), tuple(json.loads(rest[2])), moderator.id)
                )
            elif kind == "CONFLICT":
                conflicts += 1
    assert len(acks) + conflicts >= n_savers * rounds
    _verify_no_lost_update(db, video_ids, acks, conflicts)
    assert "4 ready" in outputs[cli] and "TRAINED" in outputs[trainer]
    with db.session() as session:
        assert [v.status for v in models_q.list_model_versions(session)] == [ModelStatus.READY]
        ingested = [v for v in videos_q.list_videos(session) if v.title.startswith("new")]
        assert sorted(v.status for v in ingested) == [VideoStatus.READY] * 4
    _assert_snapshot_consistent(mid_run, tmp_path / "restored", video_ids)
    tally["concurrent sessions run (processes)"] += n_savers + 2
    tally["concurrent saves acknowledged"] += len(acks)
    tally["stale-version conflicts reported"] += conflicts


def _assert_snapshot_consistent(archive: Path, data_dir: Path, video_ids: list[int]) -> None:
    """In a restored mid-run backup, each video's version, labels and audit trail agree."""
    restored_settings = Settings(data_dir=data_dir)
    restored = Database(restored_settings.resolved_database_url)
    backup.restore_backup(restored, archive, settings=restored_settings)
    with restored.session() as session:
        saved = audit_q.list_audit(session, action=AuditAction.REVIEW_SAVED, limit=100_000)
        for video_id in video_ids:
            trail = sorted(
                (json.loads(e.detail_json) for e in saved if e.video_id == video_id),
                key=lambda d: d["version"],
            )
            video = videos_q.get_video(session, video_id=video_id)
            assert [d["version"] for d in trail] == list(range(1, video.version + 1))
            labels = review_rules.effective_labels(session, video_ids=[video_id]).get(video_id, [])
            assert labels == (trail[-1]["node_ids"] if trail else [])
    restored.dispose()
