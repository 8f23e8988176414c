"""Running the service: ``tagger ready`` (the server's readiness checks from the shell: a
deployment script, a timer on a host that only ingests, someone asking why the probe fails) and
``tagger audit`` (the audit log as JSON lines, for a log shipper)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

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


def audit(
    after: Annotated[int, typer.Option(help="The last id already read (0: from the start).")] = 0,
    action: Annotated[
        list[str] | None, typer.Option(help="Only this action (repeatable), e.g. login_failed.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Entries at most (1 to 1,000).")] = 1000,
) -> None:
    """Print audit entries after id `--after`, oldest first, one JSON object a line (`id`, `at`,
    `action`, `account`, `video_id`, `tag`, `detail`): the last line's `id` is the next
    `--after`. The same feed as `GET /api/v1/audit`."""
    from core import audit_feed
    from core.config import get_settings
    from scripts.cli.data import open_database

    page = audit_feed.read_page(
        open_database(), settings=get_settings(), after=after, actions=action or (), limit=limit
    )
    for entry in page.entries:
        line = {**vars(entry), "at": entry.at.isoformat()}
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")


def register(app: typer.Typer) -> None:
    app.command("ready")(ready)
    app.command("audit")(audit)
