"""Crash safety with real ``kill -9``: a child process saves labels, ingests, trains or promotes and
prints an ACK line after every committed step; the parent kills it at random points, then checks
that the database opens, every acknowledged step is there, the active model is complete, a
re-run finishes the interrupted work without redoing finished work, and a killed training job's
version is listed as failed."""

from __future__ import annotations

import json
import os
import random
import re
import textwrap
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from core import review as review_rules
from core.classifier import load_classifier
from core.lifecycle import registry
from db.engine import Database, init_db
from db.queries import audit as audit_q
from db.queries import embeddings as embeddings_q
from db.queries import jobs as jobs_q
from db.queries import labels as labels_q
from db.queries import model_versions as models_q
from db.queries import videos as videos_q
from db.tables import AuditAction, ModelStatus, VideoStatus
from tests.support import slow_ingest
from tests.support.kill import ChildRun, never, run_and_kill
from tests.support.preloaded import PreloadedPython

N_VIDEOS = 8
FAST = {
    "n_ensemble": 1,
    "max_epochs": 3,
    "patience": 3,
    "d_model": 8,
    "n_heads": 2,
    "n_layers": 1,
    "mlp_width": 16,
    "batch_size": 16,
    "dropout": 0.1,
}
SLOW_TRAINING = {**FAST, "max_epochs": 100_000, "patience": 100_000}

_CHILD = textwrap.dedent(
    """
    import json, sys
    import torch
    torch.set_num_threads(1)
    from core.lifecycle import registry
    from core.lifecycle import training
    from core.config import get_settings
    from db.engine import Database, init_db
    from db.tables import ModelStatus
    from core import review as review_rules
    from db.queries import labels, users, videos
    from db.queries import model_versions as models

    CHOICES = json.loads(sys.argv[2])
    settings = get_settings()
    db = Database(settings.resolved_database_url)
    init_db(db)
    print("READY", flush=True)
    mode = sys.argv[1]

    def ack(*parts):
        print("ACK", *parts, flush=True)

    if mode == "labels":
        with db.session() as s:
            user = users.get_user_by_name(s, username="mod")
            ids = videos.list_video_ids(s)
        i = 0
        while True:
            video_id = ids[i % len(ids)]
            with db.session() as s:
                version = videos.get_video(s, video_id=video_id).version
                choice = CHOICES[(version + 1) % len(CHOICES)]
                review_rules.save_review(s, video_id=video_id, expected_version=version,
                                         node_ids=choice, user=user)
            ack(video_id, version + 1)
            i += 1

    elif mode == "train":
        params = json.loads(sys.argv[3])
        def progress(fraction, message, metrics):
            if "epoch" in metrics:
                print("EPOCH", metrics["epoch"], flush=True)
        while True:
            version = training.train_model(db, settings=settings, user=None, activate=True,
                                           encoder_key=("fake", "v1"), params=params,
                                           progress=progress)
            ack(version.id)

    elif mode == "promote":
        while True:
            with db.session() as s:
                ready = [v.id for v in models.list_model_versions(s)
                         if v.status == ModelStatus.READY]
                active = models.get_active_model(s).id
            target = next(v for v in ready if v != active)
            registry.promote(db, target, None, settings=settings)
            ack(target)
    """
)


@pytest.fixture(scope="module")
def preloaded() -> Iterator[PreloadedPython]:
    """Every :data:`_CHILD`, :mod:`tests.support.slow_ingest` and job worker run forks from one
    process that has made their imports (torch, the trainer, torch._dynamo that the first
    optimiser step imports, the ingest pipeline, the CLI: seconds of CPU per child otherwise); the
    kills and what they hit are the same."""
    modules = [
        "torch",
        "torch._dynamo",
        "core.lifecycle.training",
        "core.lifecycle.jobs",
        "core.ingest.batch",
        "scripts.cli",
    ]
    with PreloadedPython(modules) as python:
        yield python


@pytest.fixture
def child(tmp_path) -> Callable[..., list[str]]:
    """``child(mode, *args)`` -> the ``python`` arguments that run :data:`_CHILD` in that mode."""
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    return lambda mode, *args: [str(script), mode, *args]


@pytest.fixture
def env(settings) -> dict[str, str]:
    return {**os.environ, "TAGGER_DATA_DIR": str(settings.data_dir), "HF_HUB_OFFLINE": "1"}


def _choices(taxonomy) -> list[list[str]]:
    ids = {
        path: taxonomy.find(path).id
        for path in ("Sports: Soccer", "Music: Jazz", "Music", "Sports: Tennis")
    }
    return [
        [ids["Sports: Soccer"]],
        [ids["Music: Jazz"], ids["Sports: Tennis"]],
        [],
        [ids["Music"]],
    ]


def _reopen(settings) -> Database:
    """A fresh engine on the same file, as a restarted process would have."""
    db = Database(settings.resolved_database_url)
    init_db(db)
    return db


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_during_label_saves_loses_no_acknowledged_save(
    db, settings, taxonomy, accounts, child, env, preloaded, tally
):
    choices = _choices(taxonomy)
    with db.session() as session:
        ids = [
            videos_q.create_video(session, title=f"v{i}", status=VideoStatus.PREDICTED).id
            for i in range(N_VIDEOS)
        ]
    rng = random.Random(7)
    acked: dict[int, int] = {}  # video -> highest acknowledged version
    n_acks = 0
    kills = 5
    for _ in range(kills):
        target = rng.randint(5, 40)
        run = run_and_kill(
            child("labels", json.dumps(choices)),
            env,
            kill_when=lambda r, t=target: len(r.acks) >= t,
            settle_s=rng.random() * 0.05,
            python=preloaded,
        )
        assert run.killed
        for video_id, version in run.acks:
            acked[int(video_id)] = max(acked.get(int(video_id), 0), int(version))
        n_acks += len(run.acks)
    tally["faults injected (kill -9)"] += kills
    tally["acknowledged label saves checked"] += n_acks

    fresh = _reopen(settings)
    with fresh.session() as session:
        saved = audit_q.list_audit(session, action=AuditAction.REVIEW_SAVED, limit=100_000)
        audited = {(e.video_id, json.loads(e.detail_json)["version"]) for e in saved}
        for video_id in ids:
            video = videos_q.get_video(session, video_id=video_id)
            assert video.version >= acked.get(video_id, 0), "an acknowledged save was lost"
            assert (
                video.version <= acked.get(video_id, 0) + 1
            )  # at most the one in flight at the kill
            final = review_rules.effective_labels(session, video_ids=[video_id]).get(video_id, [])
            if video.version:
                assert final == sorted(
                    choices[video.version % len(choices)]
                )  # state of the last save
                assert {v for vid, v in audited if vid == video_id} == set(
                    range(1, video.version + 1)
                )
    lost = [
        (v, ver) for v, top in acked.items() for ver in range(1, top + 1) if (v, ver) not in audited
    ]
    assert lost == []
    fresh.dispose()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_during_ingest_then_rerun_finishes_without_redoing(
    db, settings, hostile, env, tmp_path, preloaded, tally
):
    folder = tmp_path / "in"
    names = [f"clip{i}" for i in range(10)]
    for i, name in enumerate(names):
        hostile.clip(folder / f"{name}.mp4", 10 + 20 * i, seconds=0.5, audio=False)
    log = tmp_path / "encoded.log"
    rng = random.Random(3)
    finished_before: set[str] = set()
    redone: set[str] = set()
    kills = 0
    for attempt in range(4):
        start = len(log.read_text().split()) if log.exists() else 0
        with db.session() as session:
            finished_before = {
                v.title for v in videos_q.list_videos(session, statuses=[VideoStatus.READY])
            }
        if attempt < 3:
            target = start + rng.randint(1, 3)
            run = run_and_kill(
                slow_ingest.command(folder, log),
                env,
                settle_s=rng.random() * 0.3,
                kill_when=lambda r, t=target: log.exists() and len(log.read_text().split()) >= t,
                python=preloaded,
            )
            assert run.killed and not run.acks, "the kill must land mid-batch, not after it"
            kills += 1
        else:
            run = run_and_kill(
                slow_ingest.command(folder, log), env, kill_when=never, python=preloaded
            )
            assert not run.killed and run.acks
        encoded_now = set(log.read_text().split()[start:])
        redone |= encoded_now & finished_before
    tally["faults injected (kill -9)"] += kills

    fresh = _reopen(settings)
    with fresh.session() as session:
        videos = videos_q.list_videos(session)
        assert sorted(v.title for v in videos) == names  # nothing lost, no duplicate rows
        assert all(v.status == VideoStatus.READY for v in videos), [
            (v.title, v.status) for v in videos
        ]
        stored = embeddings_q.get_embeddings(
            session, video_ids=[v.id for v in videos], encoder_id="fake", encoder_version="v1"
        )
        assert all(set(stored[v.id]) == {"title", "frames"} for v in videos)
    assert redone == set(), f"finished videos were encoded again: {redone}"
    leftovers = [p.name for p in settings.media_dir.iterdir() if p.name.startswith(".")]
    assert all(
        p.startswith(".incoming-") for p in leftovers
    )  # only temp copies the kill interrupted
    fresh.dispose()


def _training_data(db, taxonomy, n: int = 16, encoder_id: str = "fake") -> None:
    """Labelled videos with cached embeddings of ``encoder_id`` version ``v1``, clustered by their
    leaf tag."""
    leaves = [
        taxonomy.find(p).id
        for p in ("Sports: Soccer", "Sports: Tennis", "Music: Rock", "Music: Jazz")
    ]
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 8)) * 3
    with db.session() as session:
        for i in range(n):
            video = videos_q.create_video(session, title=f"t{i}", status=VideoStatus.READY)
            vector = (centres[i % 4] + rng.standard_normal(8)).astype(np.float32)
            embeddings_q.put_embeddings(
                session,
                records=[
                    embeddings_q.EmbeddingRecord(
                        video.id, "title", encoder_id, "v1", f"h{i}", vector
                    )
                ],
            )
            labels_q.import_labels(session, labels=[(video.id, leaves[i % 4])])


def _assert_models_consistent(settings) -> registry.LoadedModel:
    """Exactly one active model, ready, whose files verify and load; every ready version's files
    verify; returns the active model loaded from disk."""
    fresh = _reopen(settings)
    with fresh.session() as session:
        versions = models_q.list_model_versions(session, limit=1000)
    active = [v for v in versions if v.is_active]
    assert len(active) == 1 and active[0].status == ModelStatus.READY
    for version in versions:
        if version.status == ModelStatus.READY:
            registry.verify_artifact(settings.data_dir / version.artifact_path)
    loaded = registry.load_active_model(fresh, settings=settings)
    X = {"title": np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)}
    again = load_classifier(settings.data_dir / active[0].artifact_path)
    np.testing.assert_allclose(
        loaded.classifier.predict_proba(X), again.predict_proba(X), rtol=1e-6
    )
    fresh.dispose()
    return loaded


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_during_training_and_promotion_keeps_a_complete_active_model(
    db, settings, taxonomy, child, env, preloaded, tally
):
    from core.lifecycle import training

    _training_data(db, taxonomy)
    first = training.train_model(
        db, settings=settings, user=None, activate=True, encoder_key=("fake", "v1"), params=FAST
    )
    assert first.is_active
    rng = random.Random(11)
    kills = 0

    # 1. killed mid-training (epochs running): nothing changes but a row left in "training"
    run = run_and_kill(
        child("train", "[]", json.dumps(SLOW_TRAINING)),
        env,
        kill_when=lambda r: sum(line.startswith("EPOCH") for line in r.lines) >= 3,
        python=preloaded,
    )
    kills += run.killed
    assert _assert_models_consistent(settings).version_id == first.id

    # 2. killed while versions are saved and activated back to back (artifact write, rename, flip)
    acked_versions: list[int] = []
    for _ in range(3):
        target = rng.randint(1, 3)
        run = run_and_kill(
            child("train", "[]", json.dumps(FAST)),
            env,
            settle_s=rng.random() * 0.5,
            kill_when=lambda r, t=target: len(r.acks) >= t,
            python=preloaded,
        )
        kills += run.killed
        acked_versions += [int(a[0]) for a in run.acks]
        loaded = _assert_models_consistent(settings)
        assert loaded.version_id >= acked_versions[-1]  # the last acknowledged activation held

    # 3. killed in a promote loop (one short transaction each)
    for _ in range(3):
        target = rng.randint(2, 12)
        run = run_and_kill(
            child("promote", "[]"),
            env,
            settle_s=rng.random() * 0.05,
            kill_when=lambda r, t=target: len(r.acks) >= t,
            python=preloaded,
        )
        kills += run.killed
        loaded = _assert_models_consistent(settings)
        last = int(run.acks[-1][0])
        with db.session() as session:
            promoted = [
                json.loads(e.detail_json)["model_version_id"]
                for e in audit_q.list_audit(session, action=AuditAction.MODEL_PROMOTED, limit=1)
            ]
        assert loaded.version_id in (
            last,
            promoted[0],
        )  # the acknowledged one, or the one in flight
        assert loaded.version_id == promoted[0]  # audit trail and active flag agree
    tally["faults injected (kill -9)"] += kills

    # 4. the interrupted work resumes: a new training run succeeds next to the leftovers
    after = training.train_model(
        db, settings=settings, user=None, activate=True, encoder_key=("fake", "v1"), params=FAST
    )
    assert _assert_models_consistent(settings).version_id == after.id
    with db.session() as session:
        stale = [
            v
            for v in models_q.list_model_versions(session, limit=1000)
            if v.status == ModelStatus.TRAINING
        ]
    assert all(not v.is_active for v in stale)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_of_a_training_job_lists_its_version_failed_and_keeps_the_active_model(
    db, settings, taxonomy, env, preloaded, tally
):
    """``kill -9`` of a training job's worker (``python -m scripts jobs run ID``, what
    :func:`core.lifecycle.jobs.start_job` spawns) mid-epoch: the versions list shows the version
    it was training as failed, with the reason, and the active model stays active."""
    from core.lifecycle import jobs, liveness, training

    _training_data(db, taxonomy, encoder_id=settings.encoder)  # what a job trains on
    first = training.train_model(db, settings=settings, user=None, activate=True, params=FAST)
    with db.session() as session:
        job_id = jobs_q.create_job(
            session, kind="train", params={"activate": True, "classifier": SLOW_TRAINING}
        ).id

    def training_for_three_epochs(run: ChildRun) -> bool:
        with db.session() as session:
            job = jobs_q.get_job(session, job_id=job_id)
        return len(json.loads(job.metrics_json).get("history", [])) >= 3

    worker = run_and_kill(
        ["-m", "scripts", "jobs", "run", str(job_id)],
        env,
        kill_when=training_for_three_epochs,
        python=preloaded,
    )
    assert worker.killed
    tally["faults injected (kill -9)"] += 1
    with db.session() as session:
        [killed] = [v for v in models_q.list_model_versions(session) if v.id != first.id]
    assert killed.status == ModelStatus.TRAINING  # nothing could record the kill

    listed = run_and_kill(
        ["-m", "scripts", "models", "list"], {**env, "COLUMNS": "200"}, kill_when=never
    )
    reason = f"training job {job_id}: {liveness.WORKER_EXITED}"
    [row] = [
        [cell.strip() for cell in re.split(r"[│|]", line)[1:-1]]
        for line in listed.lines
        if reason in line
    ]
    assert row[:3] == [str(killed.id), "", "failed"]  # id, not active, status
    with db.session() as session:
        versions = {v.id: v for v in models_q.list_model_versions(session)}
    assert versions[killed.id].status == ModelStatus.FAILED and versions[killed.id].notes == reason
    assert versions[first.id].is_active and not versions[killed.id].is_active
    assert jobs.get_job(db, job_id).message == liveness.WORKER_EXITED
    assert _assert_models_consistent(settings).version_id == first.id


def test_child_script_compiles():
    """Guards the child script (a typo there would only show in the slow tests)."""
    compile(_CHILD, "child.py", "exec")
