"""Label-quality commands: ``tagger overlap`` (the setting), ``tagger agreement`` (the report),
``tagger retrain-policy`` and ``tagger retrain-if-due`` (retraining control), ``tagger rank-if-due``
(the queue's order kept current); the ``-if-due`` commands are for a timer where the dashboard
server, which does both by itself, does not run."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from scripts.cli import print_table
from scripts.cli.data import open_database

console = Console(soft_wrap=True)
SHOWN_TAGS = 15
SHOWN_WEEKS = 8


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def overlap(
    share: Annotated[
        float | None, typer.Option(help="Share of unreviewed videos (0..1) sent to several.")
    ] = None,
    moderators: Annotated[int, typer.Option(help="Answers needed per overlap video.")] = 2,
) -> None:
    """Show the overlap setting, or set it with --share (and --moderators)."""
    from core import quality
    from db.queries import quality as quality_q

    db = open_database()
    with db.session() as session:
        config = (
            quality_q.get_overlap(session)
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
    print_table(
        ("scope", "alpha", "units", "videos"),
        (
            (score.name, _fmt(score.alpha), str(score.units), str(score.videos))
            for score in [report.overall, *report.per_tier, *report.per_week]
        ),
        title="Krippendorff's alpha",
    )
    print_table(
        ("tag", "alpha", "units"),
        ((s.name, _fmt(s.alpha), str(s.units)) for s in report.per_tag[:SHOWN_TAGS]),
        title=f"most disputed tags (first {SHOWN_TAGS})",
    )
    print_table(
        ("moderator", "mean kappa with peers", "identical answers", "videos"),
        (
            (m.user, _fmt(m.kappa), f"{m.identical:.0%}", str(m.videos))
            for m in report.per_moderator
        ),
    )
    weeks = list(report.per_moderator_week)[-SHOWN_WEEKS:]
    print_table(
        ("week", "moderator", "mean kappa with peers", "identical answers", "videos"),
        (
            (week, m.user, _fmt(m.kappa), f"{m.identical:.0%}", str(m.videos))
            for week in weeks
            for m in report.per_moderator_week[week]
        ),
        title=f"moderators week by week (last {len(weeks)} weeks)",
    )


def retrain_policy(
    mode: Annotated[
        str | None, typer.Option(help="on_demand, schedule or after_labels (omit: show).")
    ] = None,
    every_hours: Annotated[float, typer.Option(help="schedule: hours between runs.")] = 24.0,
    after_labels: Annotated[int, typer.Option(help="after_labels: reviews between runs.")] = 100,
    min_gain: Annotated[
        float, typer.Option(help="Held-out micro AU(PRC) gain a new version needs to go live.")
    ] = 0.0,
) -> None:
    """Show or set when retraining starts by itself and the automatic promotion rule."""
    from core import quality
    from core.lifecycle.retrain_policy import policy_state
    from db.tables import utcnow

    db = open_database()
    with db.session() as session:
        if mode is not None:
            quality.set_retrain_policy(
                session,
                mode=mode,
                every_hours=every_hours,
                after_labels=after_labels,
                min_gain=min_gain,
                user=None,
            )
        state = policy_state(session, now=utcnow())
    policy = state.policy
    console.print(
        f"retrain: {policy.mode} (every {policy.every_hours:g} h / after "
        f"{policy.after_labels} reviews); promote when held-out gain >= {policy.min_gain:+.4f}",
        highlight=False,
    )
    console.print(state.next_run(), highlight=False)
    if (last_run := state.last_run()) is not None:
        console.print(last_run, highlight=False)


def retrain_if_due() -> None:
    """Train when the policy says so and apply the promotion rule (for a timer where the
    dashboard server, which does this by itself, does not run)."""
    from core.config import get_settings
    from core.lifecycle import retrain_policy as policy
    from db.tables import utcnow

    outcome = policy.retrain_if_due(open_database(), settings=get_settings(), now=utcnow())
    console.print(outcome.describe(), highlight=False)


def rank_if_due() -> None:
    """Rank the review queue again when videos have waited outside its order for
    TAGGER_RERANK_AFTER_S (for a timer where the dashboard server, which does this by itself,
    does not run)."""
    from core.config import get_settings
    from core.lifecycle import queue_ranking
    from db.tables import utcnow

    line = queue_ranking.rank_if_due(open_database(), settings=get_settings(), now=utcnow())
    console.print(line, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("overlap")(overlap)
    app.command("agreement")(agreement)
    app.command("retrain-policy")(retrain_policy)
    app.command("retrain-if-due")(retrain_if_due)
    app.command("rank-if-due")(rank_if_due)
