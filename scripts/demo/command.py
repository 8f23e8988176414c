"""``tagger demo``: from a fresh checkout to a dashboard full of real-looking work, no manual step.

:func:`prepare_demo` builds everything a newcomer needs to see the product at work: the demo
corpus, the database with IAB 3.0, an import with part of the labels held back (the "unreviewed"
queue), ingested videos (broken files end ``failed`` with their reason), a first active model,
predictions and two demo accounts. Every step first checks what an earlier run left behind, so a
second run reuses it all (the corpus manifest, the imported rows, the embedding cache, the active
model) and the dashboard starts within seconds. The command then starts the dashboard through the
same code path as ``tagger serve``.

The pipeline modules (torch, PyAV, the corpus renderer) are imported by the steps that use them, so
registering ``tagger demo`` costs ``tagger --help`` nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from core.config import Settings, get_settings
from core.errors import TaggerError
from core.lifecycle.progress import StepCallback, StepProgress
from db.engine import Database, get_database, init_db
from db.queries import model_versions as models_q
from db.queries import taxonomy as taxonomy_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.tables import ModelVersion, Role, VideoStatus

CORPUS_DIR = "demo-corpus"
DEFAULT_VIDEOS = 120
# Training needs training.MIN_LABELLED_VIDEOS labelled, ingested videos; the corpus has a few
# broken files and HOLDOUT_FRACTION of the rest are imported without labels.
MIN_VIDEOS = 24
HOLDOUT_FRACTION = 0.3
SEED = 0
ACCOUNTS = (("demo-admin", Role.ADMIN), ("demo-moderator", Role.MODERATOR))
PASSWORD_BYTES = 12  # token_urlsafe: 16 characters
RESET_COMMAND = (
    "tagger users reset-password {username}"  # shown for accounts an earlier run created
)
PROGRESS_LINES = 10  # per long step (corpus rendering, ingest)
SHOWN_METRICS = ("micro_auprc", "hierarchical_f1")  # of the model's validation split
PREDICTABLE = (VideoStatus.READY, VideoStatus.PREDICTED, VideoStatus.REVIEWED)

Progress = Callable[[str], None]


class DemoError(TaggerError):
    """The demo cannot be prepared (too small a corpus, no labelled videos to train on)."""


@dataclass(frozen=True)
class StepResult:
    """One step of the preparation; ``reused`` means an earlier run had already done its work."""

    name: str
    seconds: float
    summary: str
    reused: bool


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str | None  # only when this run created the account; never stored in clear


@dataclass
class DemoReport:
    data_dir: Path
    corpus_dir: Path
    active_model_id: int
    video_counts: dict[str, int]  # by status
    failed: list[tuple[str, str]]  # (video, reason) of videos whose ingest failed
    accounts: list[DemoAccount]
    steps: list[StepResult] = field(default_factory=list)

    def step(self, name: str) -> StepResult:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"no step {name!r}; steps: {[s.name for s in self.steps]}")

    @property
    def total_seconds(self) -> float:
        return sum(step.seconds for step in self.steps)


class _Steps:
    """Times each step and reports it as it finishes."""

    def __init__(self, progress: Progress) -> None:
        self.results: list[StepResult] = []
        self._progress = progress

    def record(self, name: str, started: float, summary: str, *, reused: bool) -> None:
        step = StepResult(name, time.perf_counter() - started, summary, reused)
        self.results.append(step)
        self._progress(f"{name}: {summary} ({step.seconds:.1f} s)")


def prepare_demo(
    settings: Settings,
    *,
    n_videos: int = DEFAULT_VIDEOS,
    progress: Progress = print,
) -> DemoReport:
    """Build (or reuse) everything the demo dashboard shows; see the module docstring."""
    from core import taxonomy as taxonomy_lib
    from core.lifecycle import prediction
    from scripts.demo.corpus import VIDEOS_DIR, generate_corpus

    if n_videos < MIN_VIDEOS:
        raise DemoError(
            f"the demo needs at least {MIN_VIDEOS} videos to train its first model; got {n_videos}"
        )
    steps = _Steps(progress)

    started = time.perf_counter()
    settings.ensure_dirs()
    corpus_dir = settings.data_dir / CORPUS_DIR
    rendered: list[str] = []

    def render_report(line: str) -> None:
        rendered.append(line)
        if len(rendered) % max(1, n_videos // PROGRESS_LINES) == 0 or len(rendered) == n_videos:
            progress(f"  corpus {line}")

    manifest = generate_corpus(corpus_dir, n_videos, SEED, progress=render_report)
    steps.record(
        "corpus",
        started,
        f"{manifest.n_videos} videos in {corpus_dir}"
        + (f" ({len(rendered)} rendered)" if rendered else " (reused)"),
        reused=not rendered,
    )

    started = time.perf_counter()
    db = get_database(settings)
    init_db(db)
    with db.session() as session:
        loaded = taxonomy_q.count_nodes(session) == 0
        if loaded:
            taxonomy_lib.save_to_db(session, taxonomy_lib.load_iab3())
        n_tags = taxonomy_q.count_nodes(session)
    steps.record(
        "database",
        started,
        f"{n_tags} tags ({taxonomy_lib.IAB3_NAME})" + ("" if loaded else ", reused"),
        reused=not loaded,
    )

    started = time.perf_counter()
    summary, reused = _import(db, corpus_dir / manifest.csv_file)
    steps.record("import", started, summary, reused=reused)

    started = time.perf_counter()
    summary, reused = _ingest(db, settings, corpus_dir / VIDEOS_DIR, progress)
    steps.record("ingest", started, summary, reused=reused)

    started = time.perf_counter()
    active, trained = _ensure_model(db, settings)
    metrics = _metrics_line(active)
    steps.record(
        "train",
        started,
        f"model v{active.id} {'trained and activated' if trained else 'already active'}"
        + (f" ({metrics})" if metrics else ""),
        reused=not trained,
    )

    started = time.perf_counter()
    pending = _unpredicted(db, active)
    # pool-wide, so the review queue is ranked too (the same videos as ``pending``)
    predicted = (
        prediction.predict_videos(db, settings=settings, progress=_finished_steps(progress))
        if pending
        else 0
    )
    steps.record(
        "predict",
        started,
        f"{predicted} videos predicted by v{active.id}"
        if pending
        else f"all videos already predicted by v{active.id}",
        reused=not pending,
    )

    started = time.perf_counter()
    accounts = _ensure_accounts(db)
    created = [a.username for a in accounts if a.password is not None]
    steps.record(
        "accounts",
        started,
        f"created {', '.join(created)}"
        if created
        else f"{', '.join(a.username for a in accounts)} exist",
        reused=not created,
    )

    with db.session() as session:
        counts = videos_q.count_videos_by_status(session)
        failed = [
            (v.original_name or v.external_id or f"video {v.id}", v.error or "no reason stored")
            for v in videos_q.list_videos(session, statuses=[VideoStatus.FAILED])
        ]
    return DemoReport(
        data_dir=settings.data_dir,
        corpus_dir=corpus_dir,
        active_model_id=active.id,
        video_counts=counts,
        failed=failed,
        accounts=accounts,
        steps=steps.results,
    )


def _import(db: Database, csv_path: Path) -> tuple[str, bool]:
    """Import the corpus CSV once, holding back HOLDOUT_FRACTION of the labels (the unreviewed
    queue).

    The media are attached by the ingest step (found by ``video_id`` in the corpus folder).
    """
    from core import dataset

    rows = dataset.read_dataset(csv_path)
    with db.session() as session:
        present = videos_q.find_videos_by_external_ids(
            session, external_ids=[r.video_id for r in rows]
        )
    if len(present) == len(rows):
        return f"{len(rows)} videos already imported", True
    report = dataset.import_dataset(db, csv_path, holdout_fraction=HOLDOUT_FRACTION, seed=SEED)
    summary = (
        f"{report.videos_created} videos, {report.labels_added} labels, "
        f"{len(report.held_out)} held back as unreviewed"
    )
    if report.problems:
        summary += (
            f", {len(report.problems)} rows with problems (first: {report.problems[0].message})"
        )
    return summary, False


def _ingest(
    db: Database, settings: Settings, videos_dir: Path, progress: Progress
) -> tuple[str, bool]:
    """Process every imported video not processed yet; the embedding cache makes re-runs free."""
    from core.ingest import batch as ingest

    def report(done: int, total: int, name: str) -> None:
        if done and (done % max(1, total // PROGRESS_LINES) == 0 or done == total):
            progress(f"  ingest {done}/{total} {name}")

    result = ingest.ingest_paths(db, [], settings=settings, videos_dir=videos_dir, progress=report)
    if not result.results:
        with db.session() as session:
            total = videos_q.count_videos(session)
        return f"nothing new: {total} videos already processed", True
    totals = result.totals
    cached = sum(1 for r in result.results if r.cached)
    parts = [f"{n} {status}" for status, n in sorted(totals.items())]
    summary = (
        f"{len(result.results)} videos ({', '.join(parts)}; {cached} from cache), "
        f"{result.video_seconds:.0f} s of video"
    )
    return summary, cached == len(result.results)


def _finished_steps(progress: Progress) -> StepCallback:
    """A prediction progress callback printing each step (predicting, the ranking's steps) once,
    when it is done."""

    def report(step: StepProgress) -> None:
        if step.done == step.total:
            progress(f"  {step.describe()}")

    return report


def _ensure_model(db: Database, settings: Settings) -> tuple[ModelVersion, bool]:
    """The active model of the configured encoder, training the first one if there is none."""
    from core.lifecycle import training

    with db.session() as session:
        active = models_q.get_active_model(session)
    if active is not None and active.encoder_id == settings.encoder:
        return active, False
    try:
        version = training.train_model(db, settings=settings, user=None, activate=True)
    except training.NotEnoughDataError as e:
        raise DemoError(f"cannot train the demo model: {e}") from e
    return version, True


def _unpredicted(db: Database, active: ModelVersion) -> list[int]:
    """Processed videos the active model has not predicted (checked before loading the model)."""
    with db.session() as session:
        videos = videos_q.list_videos(session, statuses=list(PREDICTABLE))
    return [v.id for v in videos if v.predicted_model_id != active.id]


def _metrics_line(version: ModelVersion) -> str:
    metrics = json.loads(version.metrics_json or "{}")
    shown = [
        f"{name} {metrics[name]:.2f}"
        for name in SHOWN_METRICS
        if isinstance(metrics.get(name), float)
    ]
    return "validation " + ", ".join(shown) if shown else ""


def _ensure_accounts(db: Database) -> list[DemoAccount]:
    """Create the demo accounts that do not exist; their random passwords exist only in the
    result."""
    from core import auth

    accounts = []
    for username, role in ACCOUNTS:
        with db.session() as session:
            existing = users_q.get_user_by_name(session, username=username)
        if existing is not None:
            accounts.append(DemoAccount(username, existing.role, None))
            continue
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        auth.create_user(db, username=username, password=password, role=role)
        accounts.append(DemoAccount(username, role.value, password))
    return accounts


def format_report(report: DemoReport) -> str:
    """The end-of-run summary: step timings, video states, failures, accounts."""
    width = max(len(step.name) for step in report.steps)
    lines = ["", "step timings:"]
    lines += [
        f"  {step.name:<{width}}  {step.seconds:6.1f} s  {'reused' if step.reused else ''}"
        for step in report.steps
    ]
    lines.append(f"  {'total':<{width}}  {report.total_seconds:6.1f} s")
    states = ", ".join(f"{n} {status}" for status, n in sorted(report.video_counts.items()))
    lines.append(f"videos: {states}")
    for name, reason in report.failed:
        lines.append(f"  failed {name}: {reason}")
    lines.append("accounts:")
    for account in report.accounts:
        if account.password is not None:
            lines.append(
                f"  {account.role:<9} {account.username}  password: {account.password}"
                "  (shown once, not stored; note it now)"
            )
        else:
            lines.append(
                f"  {account.role:<9} {account.username}  exists (password shown on the run that "
                f"created it; forgotten? {RESET_COMMAND.format(username=account.username)})"
            )
    return "\n".join(lines)


def demo(
    host: Annotated[str, typer.Option(help="Interface the dashboard listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Dashboard HTTP port.")] = 8501,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the dashboard when ready.")
    ] = True,
    videos: Annotated[
        int, typer.Option("--videos", min=MIN_VIDEOS, help="Videos in the demo corpus.")
    ] = DEFAULT_VIDEOS,
) -> None:
    """Build the demo corpus, database, model and accounts (reusing earlier runs), then start the
    dashboard."""
    from scripts.cli import data as cli_data

    settings = get_settings()
    report = prepare_demo(settings, n_videos=videos, progress=typer.echo)
    typer.echo(format_report(report))
    if not serve:
        return
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    typer.echo(f"\ndashboard: http://{shown}:{port}  (Ctrl+C to stop)")
    cli_data.serve(port=port, host=host)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
