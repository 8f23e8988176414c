"""The ``tagger`` command line (Typer).

Commands live in modules ``scripts/cli/<area>.py``; each defines ``register(app)`` which adds its
commands (and may call :func:`add_expected_errors` for its own exception types). Every such
module in this package is registered automatically, in name order: adding
``scripts/cli/pipeline.py`` is all it takes to get ``tagger ingest`` etc.

Command modules import heavy libraries (torch, scikit-learn, sentence-transformers, PyAV) inside
the command functions, never at module level: registering them all must stay cheap so that
``tagger --help`` and the light commands start in well under a second. Expected exception types
are therefore declared by dotted name and resolved only when an error is being reported.

Expected failures (bad input, busy database, unknown tag, ...) end the command with exit code 1
and one red line on stderr; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import atexit
import importlib
import pkgutil
import sys
from typing import Any

import click
import huggingface_hub.utils
import typer
from rich.console import Console
from typer.core import TyperGroup

from db.engine import silence_duckdb_teardown_noise

err_console = Console(stderr=True, soft_wrap=True)

# "module:Class" names (resolved lazily, see expected_error_types) or built-in exception types.
_expected_errors: list[str | type[BaseException]] = [
    "db.engine:DatabaseError",
    "core.taxonomy:TaxonomyError",
    "core.taxonomy:UnknownTagError",
    "core.dataset:DatasetError",
    "core.auth:AuthError",
    ValueError,
    OSError,
]


def add_expected_errors(*types: str | type[BaseException]) -> None:
    """Declare user-facing failures (one line, exit 1, no traceback).

    Give a type, or its ``"module:Class"`` name so the module (and what it imports) is not
    loaded just to register the command.
    """
    _expected_errors.extend(t for t in types if t not in _expected_errors)


def expected_error_types() -> tuple[type[BaseException], ...]:
    """The declared types that can exist now: a class whose module was never imported cannot
    have been raised, so named types are looked up only in already imported modules."""
    types = []
    for entry in _expected_errors:
        if isinstance(entry, str):
            module_name, _, class_name = entry.partition(":")
            module = sys.modules.get(module_name)
            if module is None:
                continue
            entry = getattr(module, class_name)
        types.append(entry)
    return tuple(types)


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
        except KeyboardInterrupt as e:
            err_console.print("[red]interrupted[/red]")
            raise typer.Exit(130) from e
        except Exception as e:
            if isinstance(e, expected_error_types()):
                raise fail(one_line(e)) from e
            raise


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
