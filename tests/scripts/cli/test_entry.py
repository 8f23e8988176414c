"""scripts/cli/__init__.py and scripts/__main__.py: the entry points stay light and
`python -m scripts` works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
