"""Pipeline commands: ingest, detect-language, retranscribe, train, predict, evaluate, models,
jobs, bench-hmc.

Thin wrappers: parse arguments, call core.ingest.batch / language_backfill / retranscribe /
training / prediction / registry / jobs, print. Those modules load torch, scikit-learn and PyAV,
so each command imports what it uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from core.config import get_settings
from db.tables import JobStatus
from scripts.cli import fail, print_table, when
from scripts.cli.data import open_database

if TYPE_CHECKING:
    from core.ingest.distributed import Cluster
    from core.ingest.language_backfill import LanguageResult
    from core.ingest.pipeline import IngestResult
    from core.ingest.retranscribe import RetranscribeResult
    from core.ingest.stored import OutcomeReport
    from core.lifecycle.progress import StepProgress

console = Console(soft_wrap=True)
MAX_FAILURES_SHOWN = 50

models_app = typer.Typer(help="List, promote and roll back model versions.", no_args_is_help=True)
jobs_app = typer.Typer(help="Background jobs (started by the dashboard).", no_args_is_help=True)


class Subset(StrEnum):
    held_out = "held_out"
    reviewed = "reviewed"


RAY_OPTION = typer.Option(
    "--ray",
    help="Run on a Ray cluster: 'auto' (the one on this machine, started if none) or the head's "
    "address. Default: TAGGER_RAY_ADDRESS, else this machine alone.",
)


def _print_cluster(cluster: Cluster) -> None:
    dashboard = cluster.dashboard_url or "not running"
    console.print(
        f"Ray cluster: {cluster.nodes} nodes, {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs; "
        f"dashboard: {dashboard}",
        highlight=False,
    )


def _bar(*, counts: bool) -> Progress:
    columns = [TextColumn("{task.description}"), BarColumn()]
    columns += [MofNCompleteColumn()] if counts else [TaskProgressColumn()]
    columns += [TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    return Progress(*columns, console=console, transient=True)


def _per_video(bar: Progress, verb: str) -> Callable[[int, int, str], None]:
    """A progress callback (videos done, total, the current one's name) for a new task of
    ``bar``, described as ``verb`` and the video's name."""
    task = bar.add_task(verb, total=None)

    def progress(done: int, total: int, name: str) -> None:
        bar.update(task, completed=done, total=total, description=f"{verb} {name}"[:80])

    return progress


def ingest(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Video files, folders (recursive), dataset CSVs, or object URIs: "
            "s3://BUCKET/PREFIX/ (every object below it), s3://BUCKET/KEY.mp4 (one object); "
            "add ?endpoint_override=HOST:PORT&scheme=http for an S3-compatible server.",
            show_default=False,
        ),
    ] = None,
    videos: Annotated[
        Path | None,
        typer.Option("--videos", help="Folder with the CSV's videos, named VIDEO_ID.EXT."),
    ] = None,
    ray_address: Annotated[str | None, RAY_OPTION] = None,
) -> None:
    """Process videos (and those pending in the database): keyframes, audio, subtitles,
    embeddings."""
    from core.ingest import batch as ingest_lib
    from core.lifecycle import coverage

    settings = get_settings()
    db = open_database()
    pipeline = None
    if address := ray_address or settings.ray_address:
        from core.ingest import distributed

        _print_cluster(distributed.connect(address))
        pipeline = distributed.RayPipeline(db, settings)
    with _bar(counts=True) as bar:
        progress = _per_video(bar, "ingesting")
        report = ingest_lib.ingest_paths(
            db,
            paths or [],
            settings=settings,
            videos_dir=videos,
            progress=progress,
            pipeline=pipeline,
        )
    if address:
        distributed.leave()
    ranked = coverage.rank_before_first_model(db, settings=settings)
    for problem in report.problems[:MAX_FAILURES_SHOWN]:
        console.print(f"[yellow]warning:[/yellow] {problem}", highlight=False)
    if report.results:
        print_table(
            ("video", "status", "seconds", "note"),
            ((r.name, r.status, f"{r.seconds:.1f}", _ingest_note(r)) for r in report.results),
        )
    totals = (
        ", ".join(f"{n} {status}" for status, n in sorted(report.totals.items())) or "nothing to do"
    )
    speed = report.video_seconds / report.wall_seconds if report.wall_seconds else 0.0
    console.print(
        f"{totals}; {report.video_seconds:.0f} s of video in {report.wall_seconds:.1f} s "
        f"({speed:.1f} s of video per second); {report.predicted} predicted"
    )
    if ranked:
        console.print(
            f"no model yet: the review queue opens with {ranked} videos that cover the pool"
        )
    if report.failed:
        raise fail(f"{len(report.failed)} of {len(report.results)} videos failed (reasons above)")


def detect_language(
    video_ids: Annotated[
        list[int] | None, typer.Argument(help="Ids of processed videos.", show_default=False)
    ] = None,
    all_videos: Annotated[
        bool,
        typer.Option(
            "--all", help="Every processed video whose spoken language is unknown (see --force)."
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Detect again where a language is known (e.g. after configuring a multilingual"
            " model); with --all: every processed video.",
        ),
    ] = False,
) -> None:
    """Detect the spoken language of processed videos (e.g. ingested before it was detected) and
    restate their modality notes; needs a multilingual Whisper model (TAGGER_WHISPER_MODEL)."""
    from core.ingest import language_backfill

    if bool(video_ids) == all_videos:
        raise fail("give video ids or --all, not both")
    db = open_database()
    with _bar(counts=True) as bar:
        progress = _per_video(bar, "detecting")
        report = language_backfill.detect_languages(
            db,
            settings=get_settings(),
            video_ids=None if all_videos else video_ids,
            force=force,
            progress=progress,
        )
    _print_outcomes(
        report,
        language=_spoken,
        nothing="nothing to do: every processed video has a spoken language",
    )


def retranscribe(
    video_ids: Annotated[
        list[int] | None, typer.Argument(help="Ids of processed videos.", show_default=False)
    ] = None,
    all_videos: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Every processed video whose Whisper transcript is not written in the"
            " non-English language detected in its speech.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also transcripts already written in the language spoken (e.g. after"
            " configuring a larger model).",
        ),
    ] = False,
) -> None:
    """Transcribe again, with the configured multilingual Whisper model, the transcripts an
    English-only model wrote of non-English speech (found by `tagger detect-language`), and embed
    them again."""
    from core.ingest import retranscribe as retranscribe_lib

    if bool(video_ids) == all_videos:
        raise fail("give video ids or --all, not both")
    db = open_database()
    with _bar(counts=True) as bar:
        progress = _per_video(bar, "transcribing")
        report = retranscribe_lib.retranscribe(
            db,
            settings=get_settings(),
            video_ids=None if all_videos else video_ids,
            force=force,
            progress=progress,
        )
    _print_outcomes(
        report,
        language=_languages,
        nothing="nothing to do: no transcript is written in another language than the one spoken",
        after=f"; {report.predicted} predicted",
    )


def _print_outcomes(
    report: OutcomeReport, *, language: Callable[[Any], str], nothing: str, after: str = ""
) -> None:
    """A pass over stored videos: one row per video, the count per outcome (``after`` appended)
    or ``nothing``, and exit code 1 when any video failed."""
    if report.results:
        print_table(
            ("id", "video", "outcome", "language", "note"),
            ((str(r.video_id), r.name, r.outcome, language(r), r.reason) for r in report.results),
        )
    totals = ", ".join(f"{n} {outcome}" for outcome, n in sorted(report.totals.items()))
    console.print(f"{totals}{after}" if totals else nothing)
    if report.failed:
        raise fail(f"{len(report.failed)} of {len(report.results)} videos failed (reasons above)")


def train(
    activate: Annotated[
        bool, typer.Option("--activate", help="Make the new version active.")
    ] = False,
) -> None:
    """Train a new model version from labelled videos' cached embeddings (refused while another
    training runs: a training job, the retraining policy's, or another ``tagger train``)."""
    from core.lifecycle import jobs, training

    settings = get_settings()
    db = open_database()
    with db.session() as session:
        jobs.refuse_second_training(session)
    with _bar(counts=False) as bar:
        task = bar.add_task("training", total=1.0)

        def progress(fraction: float, message: str, metrics: dict) -> None:
            bar.update(task, completed=fraction, description=message[:60])

        version = training.train_model(
            db, settings=settings, user=None, progress=progress, activate=activate
        )
    state = "active" if version.is_active else f"not active (tagger models promote {version.id})"
    console.print(f"model version {version.id}: {state}")
    _print_metrics(json.loads(version.metrics_json))


def predict(
    version: Annotated[
        int | None, typer.Option("--version", help="Model version (default: active).")
    ] = None,
    all_videos: Annotated[
        bool, typer.Option("--all", help="Re-predict every processed video.")
    ] = False,
    ray_address: Annotated[str | None, RAY_OPTION] = None,
) -> None:
    """Predict tags for processed videos from their cached embeddings."""
    from core.lifecycle import prediction

    settings = get_settings()
    db = open_database()
    predict_videos = prediction.predict_videos
    if address := ray_address or settings.ray_address:
        from core.ingest import distributed
        from core.lifecycle import ray_prediction

        _print_cluster(distributed.connect(address))
        predict_videos = ray_prediction.predict_on_ray
    with _bar(counts=True) as bar:
        task = bar.add_task(prediction.PREDICT_STEP, total=None)

        def progress(step: StepProgress) -> None:
            bar.update(task, completed=step.done, total=step.total, description=step.step)

        count = predict_videos(
            db, settings=settings, version_id=version, all_videos=all_videos, progress=progress
        )
    if address:
        distributed.leave()
    console.print(f"{count} videos predicted; review queue ranked")


def evaluate(
    version: Annotated[
        int | None, typer.Option("--version", help="Model version (default: active).")
    ] = None,
    subset: Annotated[
        Subset,
        typer.Option(
            "--subset", help="held_out: its validation videos; reviewed: every reviewed video."
        ),
    ] = Subset.held_out,
) -> None:
    """Metrics of a model version against the current effective labels."""
    from core.lifecycle import training

    metrics = training.evaluate_model(
        open_database(), settings=get_settings(), version_id=version, subset=subset.value
    )
    _print_metrics(metrics)


@models_app.command("list")
def models_list() -> None:
    """Model versions, newest first (a failed one with its reason)."""
    from core.lifecycle import liveness

    versions = liveness.list_model_versions(open_database())
    print_table(
        (
            "id",
            "active",
            "status",
            "created",
            "encoder",
            "train/valid",
            "micro AUPRC",
            "hier. F1",
            "notes",
        ),
        (
            (
                str(v.id),
                "*" if v.is_active else "",
                v.status,
                when(v.created_at),
                f"{v.encoder_id} {v.encoder_version[:8]}",
                f"{v.n_train}/{v.n_valid}",
                _number(metrics.get("micro_auprc")),
                _number(metrics.get("hierarchical_f1")),
                v.notes,
            )
            for v, metrics in ((v, json.loads(v.metrics_json)) for v in versions)
        ),
    )


@models_app.command("promote")
def models_promote(
    version: Annotated[int, typer.Argument(help="Version id to make active.")],
) -> None:
    """Make a ready model version active."""
    from core.lifecycle import registry

    promoted = registry.promote(open_database(), version, None, settings=get_settings())
    console.print(f"model version {promoted.id} is now active")


@models_app.command("rollback")
def models_rollback() -> None:
    """Re-activate the version that was active before the current one."""
    from core.lifecycle import registry

    restored = registry.rollback(open_database(), None, settings=get_settings())
    console.print(f"rolled back: model version {restored.id} is now active")


@jobs_app.command("run")
def jobs_run(job_id: Annotated[int, typer.Argument(help="Queued job id.")]) -> None:
    """Run a queued job in this process (the dashboard's background worker)."""
    from core.lifecycle import jobs as jobs_lib

    info = jobs_lib.run_job(open_database(), job_id, settings=get_settings())
    if info.status != JobStatus.SUCCEEDED:
        raise fail(f"job {job_id} {info.status}: {info.message}")
    console.print(f"job {job_id} succeeded")


@jobs_app.command("list")
def jobs_list() -> None:
    """Recent jobs, newest first."""
    from core.lifecycle import jobs as jobs_lib

    print_table(
        ("id", "kind", "status", "progress", "message"),
        (
            (str(i.id), i.kind, i.status, f"{i.progress:.0%}", i.message)
            for i in jobs_lib.list_jobs(open_database())
        ),
    )


def bench_hmc(
    data: Annotated[Path, typer.Option("--data", help="Folder with the HMC benchmark ARFF files.")],
    out: Annotated[Path, typer.Option("--out", help="JSON file for the results.")],
) -> None:
    """Run the hierarchical multi-label classification benchmark (C-HMCNN data sets)."""
    from scripts.bench import hmc as hmc_bench

    hmc_bench.main(data, out)


def _print_metrics(metrics: dict) -> None:
    print_table(
        ("metric", "value"),
        (
            (name, _number(value) if isinstance(value, float) or value is None else str(value))
            for name, value in sorted(metrics.items())
        ),
    )


def _ingest_note(result: IngestResult) -> str:
    if result.duplicate_of is not None:
        return f"{result.reason or 'same content'} as video {result.duplicate_of}"
    if result.cached:
        return "all embeddings cached"
    return result.reason or ""


def _spoken(result: LanguageResult) -> str:
    spoken = result.spoken
    if spoken is None:
        return "-"
    sure = "" if spoken.probability is None else f" ({spoken.probability:.0%})"
    return f"{spoken.code}{sure}"


def _languages(result: RetranscribeResult) -> str:
    """The transcript's language before and after ("en -> de")."""
    if result.language is None:
        return result.previous or "-"
    return f"{result.previous or '?'} -> {result.language}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("detect-language")(detect_language)
    app.command("retranscribe")(retranscribe)
    app.command("train")(train)
    app.command("predict")(predict)
    app.command("evaluate")(evaluate)
    app.add_typer(models_app, name="models")
    app.add_typer(jobs_app, name="jobs")
    app.command("bench-hmc")(bench_hmc)
