"""The import benchmark at toy size: both versions import every row and the lines are printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import dataset
from scripts.bench import dataset_import


def test_timed_import_times_the_import_and_each_session(tmp_path: Path) -> None:
    file = tmp_path / "dataset.csv"
    dataset_import.write_dataset(file, 30)
    seconds, holds = dataset_import.timed_import(dataset.import_dataset, file, tmp_path)
    assert seconds > 0 and len(holds) >= 3 and all(h > 0 for h in holds)  # taxonomy, batch, audit


def test_the_benchmark_compares_with_a_revision(capsys: pytest.CaptureFixture[str]) -> None:
    dataset_import.main(["--baseline", "HEAD", "--rows", "20", "--repeat", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].strip().startswith("HEAD: import of 20 rows")
    assert lines[1].strip().startswith("working tree: import of 20 rows")
    assert lines[2].startswith("ratio working tree / HEAD: import ")
