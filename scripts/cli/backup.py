"""Backup commands: ``tagger backup OUT`` and ``tagger restore ARCHIVE`` (into an empty
database)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.config import get_settings
from scripts.cli.data import open_database

console = Console(soft_wrap=True)


def backup(
    out: Annotated[Path, typer.Argument(help="Archive to write (a new .tar file).")],
    with_media: Annotated[
        bool, typer.Option("--with-media", help="Also copy the stored videos and thumbnails.")
    ] = False,
) -> None:
    """Write every table (Parquet) and the model files into one archive with checksums."""
    from core import backup as backup_lib

    report = backup_lib.create_backup(
        open_database(), out, settings=get_settings(), include_media=with_media
    )
    for relative in report.skipped_artifacts:
        console.print(
            f"[yellow]warning:[/yellow] damaged model files left out: {relative}", highlight=False
        )
    rows = sum(report.rows.values())
    console.print(
        f"wrote {report.path}: {rows} rows in {len(report.rows)} tables, {report.files} files, "
        f"{report.bytes / 1e6:.1f} MB",
        highlight=False,
    )


def restore(
    archive: Annotated[Path, typer.Argument(help="Archive written by `tagger backup`.")],
) -> None:
    """Restore an archive into the configured database, which must be new and empty."""
    from core import backup as backup_lib
    from db.engine import latest_schema_version

    report = backup_lib.restore_backup(open_database(), archive, settings=get_settings())
    upgraded = (
        f", upgraded to {latest_schema_version()}"
        if report.schema_version < latest_schema_version()
        else ""
    )
    console.print(
        f"restored {sum(report.rows.values())} rows in {len(report.rows)} tables "
        f"and {report.files} files "
        f"(schema version {report.schema_version}{upgraded})",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
