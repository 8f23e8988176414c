"""scripts/bench/overdue.py runs end to end on a small DuckDB: every raised video is reported
late once, its event queued for each subscriber, and the report timed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from scripts.bench import overdue


def test_every_late_video_is_reported_and_timed(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert overdue.main(["--videos", "600", "--subscribers", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "duckdb, 600 urgent videos past their target, 2 webhook subscriber(s)"
    assert out[1].startswith("600 reported in ") and "2 units of work of up to 500" in out[1]
    assert out[1].endswith("; 1,200 webhook deliveries queued")
