"""tests/support/tally.py: one reliability tally for the whole run, xdist workers added up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COUNTING_TESTS = """
import pytest

@pytest.mark.parametrize("i", range(6))
def test_counts(tally, i):
    tally["inputs tried"] += i + 1
    tally["sessions run"] += 1
"""


def _run_pytest(folder: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one process", "two workers"])
def test_the_tally_is_printed_once_for_the_whole_run(
    tmp_path: Path, workers: tuple[str, ...]
) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ("tests.support.tally",)\n')
    (tmp_path / "test_a.py").write_text(COUNTING_TESTS)
    (tmp_path / "test_b.py").write_text(COUNTING_TESTS)
    out = _run_pytest(tmp_path, *workers)
    assert out.count("reliability tally") == 1, out
    tally = out[out.index("reliability tally") :]
    assert "inputs tried: 42" in tally and "sessions run: 12" in tally, out
