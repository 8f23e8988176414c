"""Label-quality commands: ``tagger overlap`` (the setting) and ``tagger agreement`` (the report)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scripts.cli import add_expected_errors
from scripts.cli.data import open_database

console = Console(soft_wrap=True)
SHOWN_TAGS = 15


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def overlap(
    share: Annotated[
        float | None, typer.Option(help="Share of unreviewed videos (0..1) sent to several.")
    ] = None,
    moderators: Annotated[int, typer.Option(help="Answers needed per overlap video.")] = 2,
) -> None:
    """Show the overlap setting, or set it with --share (and --moderators)."""
    from db.queries import quality

    db = open_database()
    with db.session() as session:
        config = (
            quality.get_overlap(session)
            if share is None
            else quality.set_overlap(session, share=share, moderators=moderators, user=None)
        )
    console.print(
        f"overlap: {config.share:.0%} of unreviewed videos, {config.moderators} moderators each",
        highlight=False,
    )


def agreement() -> None:
    """Inter-moderator agreement on overlap videos: overall, per tier, per tag, per moderator,
    per week (Krippendorff's alpha; Cohen's kappa for moderator pairs)."""
    from core.agreement import agreement_from_db

    report = agreement_from_db(open_database())
    if report.overall.videos == 0:
        console.print("no overlap video has two answers yet (see `tagger overlap --share`)")
        return
    table = Table("scope", "alpha", "units", "videos", title="Krippendorff's alpha")
    for score in [report.overall, *report.per_tier, *report.per_week]:
        table.add_row(score.name, _fmt(score.alpha), str(score.units), str(score.videos))
    console.print(table)
    tags = Table("tag", "alpha", "units", title=f"most disputed tags (first {SHOWN_TAGS})")
    for score in report.per_tag[:SHOWN_TAGS]:
        tags.add_row(score.name, _fmt(score.alpha), str(score.units))
    console.print(tags)
    people = Table("moderator", "mean kappa with peers", "identical answers", "videos")
    for m in report.per_moderator:
        people.add_row(m.user, _fmt(m.kappa), f"{m.identical:.0%}", str(m.videos))
    console.print(people)


def register(app: typer.Typer) -> None:
    add_expected_errors("db.queries.quality:QualityPermissionError")
    app.command("overlap")(overlap)
    app.command("agreement")(agreement)
