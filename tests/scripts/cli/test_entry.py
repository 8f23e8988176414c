"""scripts/cli/__init__.py and scripts/__main__.py: the entry points stay light and
`python -m scripts` works."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

REPO = Path(__file__).resolve().parents[3]
HEAVY = ("torch", "sklearn", "sentence_transformers", "transformers", "av", "faster_whisper")


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
def test_registering_every_command_loads_no_heavy_library() -> None:
    done = _python(
        "-c", f"import sys, scripts.cli; print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_python_m_scripts_is_the_tagger_command_line() -> None:
    done = _python("-m", "scripts", "--help")
    assert done.returncode == 0, done.stderr
    assert "Usage: tagger" in done.stdout and "users" in done.stdout


def test_print_table_shows_columns_rows_and_title(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import datetime

    from scripts.cli import print_table, when

    moment = datetime(2026, 12, 3, 23, 59, 7)
    print_table(("id", "created"), [("7", when(moment)), ("8", when(None))], title="things")
    out = capsys.readouterr().out
    assert "things" in out and "id" in out and "created" in out
    assert "2026-12-03 23:59" in out and "23:59:07" not in out
    assert when(moment, "%H:%M:%S") == "23:59:07"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'.,:;()/=&?-]+", text)


def test_every_help_text_is_shown_whole() -> None:
    """Each command's and option's help, rendered as Markdown, keeps every word of the source
    (a placeholder written <video_id> was taken for an HTML tag and dropped) and the
    sentence's flow (no line break where the docstring's source had one)."""
    from typer.main import get_command
    from typer.testing import CliRunner

    from scripts.cli import app

    root = get_command(app)
    shown: list[str] = []
    for path in _commands(root):
        command = root
        for name in path:
            command = command.commands[name]
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        flat = " ".join(re.sub(r"[│╭╮╰╯─*]", " ", result.output).split())
        sources = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        for source in sources:
            first = source.split("\n\n")[0].replace("`", "")
            assert " ".join(_words(first)) in " ".join(_words(flat)), (path, first)
        shown.append(flat)
    assert len(shown) >= 20  # every command and subcommand was rendered
    listing = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "400"}).output.splitlines()
    for name, command in root.commands.items():  # one line each, however the docstring wraps
        summary = " ".join((command.help or "").split("\n\n")[0].replace("`", "").split())
        assert any(summary in line for line in listing), name
