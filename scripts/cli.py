"""The ``tagger`` command line (Typer).

Commands live in modules ``scripts/cli_<area>.py``; each defines ``register(app)`` which adds its
commands (and may call :func:`add_expected_errors` for its own exception types). Every such
module in this package is registered automatically, in name order: adding
``scripts/cli_pipeline.py`` is all it takes to get ``tagger ingest`` etc.

Expected failures (bad input, busy database, unknown tag, ...) end the command with exit code 1
and one red line on stderr; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import atexit
import importlib
import os
import pkgutil
import sys
from typing import Any

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

import scripts
from core.auth import AuthError
from core.dataset import DatasetError
from core.taxonomy import TaxonomyError, UnknownTagError
from db.engine import DatabaseError, silence_duckdb_teardown_noise

err_console = Console(stderr=True, soft_wrap=True)

_expected_errors: list[type[BaseException]] = [
    DatabaseError,
    TaxonomyError,
    UnknownTagError,
    DatasetError,
    AuthError,
    ValueError,
    OSError,
]


def add_expected_errors(*types: type[BaseException]) -> None:
    """Declare exception types that are user-facing failures (one line, exit 1, no traceback)."""
    _expected_errors.extend(t for t in types if t not in _expected_errors)


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def fail(message: str) -> typer.Exit:
    """Print ``message`` as the one-line reason and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/bold red] {message}", markup=True, highlight=False)
    return typer.Exit(1)


class _ReportingGroup(TyperGroup):
    """Turns expected exceptions from any sub-command into a one-line message and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except tuple(_expected_errors) as e:
            raise fail(one_line(e)) from e
        except KeyboardInterrupt as e:
            err_console.print("[red]interrupted[/red]")
            raise typer.Exit(130) from e


app = typer.Typer(
    name="tagger",
    cls=_ReportingGroup,
    help="Tag videos with IAB Content Taxonomy categories; review and retrain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _main() -> None:
    atexit.unregister(silence_duckdb_teardown_noise)  # once, however often the app is invoked
    atexit.register(silence_duckdb_teardown_noise)


def _register_command_modules() -> None:
    for module in sorted(pkgutil.iter_modules(scripts.__path__), key=lambda m: m.name):
        if module.name.startswith("cli_"):
            importlib.import_module(f"scripts.{module.name}").register(app)


_register_command_modules()
importlib.import_module("scripts.demo").register(app)  # `tagger demo` (scripts/demo.py, not a cli_ module)
