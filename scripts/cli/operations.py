"""``tagger ready``: the server's readiness checks from the shell (a deployment script, a
timer on a host that only ingests, someone asking why the probe fails)."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console(soft_wrap=True, highlight=False)


def ready() -> None:
    """Check that the database answers at this version's schema and holds a taxonomy, and that
    the data folder is writable with `TAGGER_MIN_FREE_DISK_MB` free (what `GET /api/v1/ready`
    asks); exit code 1 when a check fails. Creates no database."""
    from core import health
    from core.config import get_settings
    from db.engine import get_database

    settings = get_settings()
    readiness = health.readiness(get_database(settings), settings)
    for check in readiness.checks:
        mark = "[green]ok[/green]  " if check.ok else "[bold red]fail[/bold red]"
        console.print(f"{mark} {check.name}: {check.detail}")
    if not readiness.ready:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("ready")(ready)
