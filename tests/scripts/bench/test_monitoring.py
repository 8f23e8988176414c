"""scripts/bench/monitoring.py runs end to end on a small DuckDB and prints every figure."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from scripts.bench import monitoring


def test_every_figure_is_printed(settings, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert monitoring.main(["--videos", "50", "--calls", "20"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("duckdb, 50 videos;")
    for name in ("scrape, stored work read", "scrape, stored work kept", "readiness check"):
        assert re.search(rf"{name}[^:]*: \d+\.\d / \d+\.\d ms", out), out
    for name in monitoring.PATHS:
        assert re.search(rf"{name}: \d+\.\d -> \d+\.\d us a request \(\+-?\d+\.\d\)", out), out
