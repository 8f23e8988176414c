"""The ``tagger`` command line (Typer).

Commands live in modules ``scripts/cli/<area>.py``; each defines ``register(app)`` which adds its
commands. Every such module in this package is registered automatically, in name order: adding
``scripts/cli/pipeline.py`` is all it takes to get ``tagger ingest`` etc.

Command modules import heavy libraries (torch, scikit-learn, sentence-transformers, PyAV) inside
the command functions, never at module level: registering them all must stay cheap so that
``tagger --help`` and the light commands start in well under a second.

Expected failures (``core.errors.TaggerError``: bad input, busy database, unknown tag, ...) end
the command with exit code 1 and one red line on stderr; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import atexit
import importlib
import pkgutil
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import click
import huggingface_hub.utils
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from core.errors import TaggerError
from db.engine import silence_duckdb_teardown_noise

err_console = Console(stderr=True, soft_wrap=True)
out_console = Console(soft_wrap=True)
MINUTES = "%Y-%m-%d %H:%M"


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def fail(message: str) -> typer.Exit:
    """Print ``message`` as the one-line reason and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/bold red] {message}", markup=True, highlight=False)
    return typer.Exit(1)


def when(moment: datetime | None, fmt: str = MINUTES) -> str:
    """A timestamp as a table cell ("" for none)."""
    return "" if moment is None else format(moment, fmt)


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[str]], *, title: str | None = None
) -> None:
    """Print one table of a listing command (the same look for every command)."""
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*row)
    out_console.print(table)


class _ReportingGroup(TyperGroup):
    """Turns expected exceptions from any sub-command into a one-line message and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:
            err_console.print("[red]interrupted[/red]")
            raise typer.Exit(130) from e
        except TaggerError as e:
            raise fail(one_line(e)) from e


app = typer.Typer(
    name="tagger",
    cls=_ReportingGroup,
    help="Tag videos with IAB Content Taxonomy categories; review and retrain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",  # docstrings' line breaks are not the help's, ``x`` is code
)


@app.callback()
def _main() -> None:
    # Model loading (sentence-transformers -> transformers) draws a "Loading weights" bar on every
    # command that embeds text; transformers reads this switch when it is first imported.
    huggingface_hub.utils.disable_progress_bars()
    atexit.unregister(silence_duckdb_teardown_noise)  # once, however often the app is invoked
    atexit.register(silence_duckdb_teardown_noise)


def _register_command_modules() -> None:
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{module.name}").register(app)
    importlib.import_module("scripts.demo.command").register(app)  # `tagger demo`


_register_command_modules()
