"""Benchmark section ``retrain`` (scripts/bench/suite.py): the dashboard's retrain click, end to
end."""

from __future__ import annotations

import csv
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import Settings
from db.engine import Database
from scripts.bench.common import Row, Sizes, format_seconds, fresh_settings, open_database

# Dims the lite encoder reports with the bundled models (MiniLM 384, 2 x tiny.en width 384).
TEXT_DIM, AUDIO_DIM = 384, 768
SYNTHETIC_TAGS = 24


def bench_retrain(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    """The dashboard's "retrain" click: ``start_job("train", activate)`` until a new version is
    active.

    Synthetic vectors stand in for cached embeddings (keyed like the configured encoder's, as the
    job trains on those). A run past ``sizes.retrain_budget_s`` is stopped and reported as such
    with its speed per epoch, which still gives the growth between sizes.
    """
    from core.encoders import load_encoder

    encoder_key = load_encoder(base).cache_key
    runs = []
    for n in sizes.retrain_videos:
        settings = fresh_settings(base, Path(tempfile.mkdtemp(prefix=f"retrain-{n}-", dir=work)))
        db = open_database(settings)
        _synthetic_training_set(db, n, work, encoder_key)
        runs.append((n, _retrain_click(db, settings, sizes.retrain_budget_s)))
    rows = []
    (n0, first), budget = runs[0], sizes.retrain_budget_s
    for n, run in runs:
        value = (
            format_seconds(run.seconds)
            if run.finished
            else f"> {budget:.0f} s (stopped: {run.message})"
        )
        value += f", {run.epoch_s:.1f} s/epoch" if run.epoch_s else ""
        value += f", first epoch done at {run.first_epoch_s:.0f} s" if run.first_epoch_s else ""
        growth = "-"
        if n != n0 and run.finished and first.finished:
            growth = f"{run.seconds / first.seconds:.1f}x for {n / n0:.0f}x data"
        elif n != n0 and run.epoch_s and first.epoch_s:
            growth = f"{run.epoch_s / first.epoch_s:.1f}x per epoch for {n / n0:.0f}x data"
        at_goal = n >= 10_000
        met = (run.finished and run.seconds < 60) if at_goal else None
        rows.append(
            Row(
                "retrain",
                f"click (start_job) to new active model, {n:,} labelled videos, cached embeddings",
                value,
                f"{n0:,} videos: "
                f"{format_seconds(first.seconds) if first.finished else f'> {budget:.0f} s'}"
                if n != n0
                else "-",
                growth,
                "< 60 s at 10,000" if at_goal else "-",
                False if at_goal and not run.finished and budget >= 60 else met,
            )
        )
    return rows


@dataclass(frozen=True)
class _Retrain:
    finished: bool
    seconds: float
    message: str
    epoch_s: float | None  # wall seconds per training epoch, from the job's live history
    first_epoch_s: float | None  # click to the first epoch reported (worker start, loading)


def _retrain_click(db: Database, settings: Settings, budget_s: float) -> _Retrain:
    """Start a train job and poll it like the dashboard does; stop its worker past the budget."""
    from core.lifecycle import jobs
    from db.queries import model_versions as models_q

    started = time.perf_counter()
    job_id = jobs.start_job(
        db, kind="train", params={"activate": True}, user=None, settings=settings
    )
    seen: list[tuple[float, int]] = []  # (time, epochs reported so far)
    while True:
        time.sleep(0.5)
        info = jobs.get_job(db, job_id)
        elapsed = time.perf_counter() - started
        epochs = len(info.metrics.get("history", []))
        if epochs and (not seen or seen[-1][1] != epochs):
            seen.append((elapsed, epochs))
        epoch_s = (seen[-1][0] - seen[0][0]) / (seen[-1][1] - seen[0][1]) if len(seen) > 1 else None
        if info.finished:
            break
        if elapsed > budget_s:
            os.kill(info.pid, signal.SIGTERM)
            os.waitpid(info.pid, 0)  # the worker is our child: reap it
            return _Retrain(
                False, elapsed, info.message or info.status, epoch_s, seen[0][0] if seen else None
            )
    if info.status != "succeeded":
        raise RuntimeError(f"train job {job_id} {info.status}: {info.message}")
    with db.session() as session:
        active = models_q.get_active_model(session)
    if active is None or active.id != info.result.get("model_version_id"):
        raise RuntimeError(
            f"train job {job_id} finished but its version is not active: {info.result}"
        )
    return _Retrain(True, elapsed, "done", epoch_s, seen[0][0] if seen else None)


def _synthetic_training_set(db: Database, n: int, work: Path, encoder_key: tuple[str, str]) -> None:
    """``n`` imported videos with 1-2 tags and one vector per modality that carries the tags'
    signal."""
    from core import dataset
    from core.encoders.visual import DESCRIPTOR_DIM
    from core.taxonomy import load_from_db
    from db.queries import embeddings as embeddings_q
    from db.queries import videos as videos_q

    rng = np.random.default_rng(n)
    with db.session() as session:
        taxonomy = load_from_db(session)
    candidates = [node for node in taxonomy.nodes if node.level == 2]
    tags = [candidates[i] for i in rng.choice(len(candidates), SYNTHETIC_TAGS, replace=False)]
    picks = [rng.choice(SYNTHETIC_TAGS, size=rng.integers(1, 3), replace=False) for _ in range(n)]
    path = work / f"synthetic-{n}.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(dataset.REQUIRED_COLUMNS)
        for i, pick in enumerate(picks):
            writer.writerow(
                [f"syn{i:07d}", f"synthetic video {i}", "", ", ".join(tags[t].path for t in pick)]
            )
    dataset.import_dataset(db, path)
    with db.session() as session:
        ids = videos_q.find_videos_by_external_ids(
            session, external_ids=[f"syn{i:07d}" for i in range(n)]
        )
    dims = {
        "title": TEXT_DIM,
        "description": TEXT_DIM,
        "subtitles": TEXT_DIM,
        "frames": DESCRIPTOR_DIM,
        "audio": AUDIO_DIM,
    }
    prototypes = {
        m: rng.standard_normal((SYNTHETIC_TAGS, d)).astype(np.float32) for m, d in dims.items()
    }
    encoder_id, version = encoder_key
    records = []
    for i, pick in enumerate(picks):
        video_id = ids[f"syn{i:07d}"].id
        for modality, dim in dims.items():
            if modality in ("description", "subtitles") and rng.random() < 0.3:
                continue  # missing modalities, as in real data
            vector = prototypes[modality][pick].sum(axis=0) + 2.0 * rng.standard_normal(dim).astype(
                np.float32
            )
            records.append(
                embeddings_q.EmbeddingRecord(
                    video_id=video_id,
                    modality=modality,
                    encoder_id=encoder_id,
                    encoder_version=version,
                    input_hash=f"{i}:{modality}",
                    vector=vector / np.linalg.norm(vector),
                )
            )
        if len(records) >= 5_000 or i == n - 1:
            with db.session() as session:
                embeddings_q.put_embeddings(session, records=records)
            records = []
