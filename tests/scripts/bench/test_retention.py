"""scripts/bench/retention.py runs end to end on a small DuckDB: every video's media expires
and the pass is timed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from scripts.bench import retention


def test_one_pass_expires_every_video_and_is_timed(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert retention.main(["--videos", "600"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "duckdb, 600 reviewed videos past a 30-day period"
    assert out[1] == "media of 600 reviewed videos expired: 600 files deleted, 0.6 MiB freed"
    assert out[2].startswith("one pass: ") and "2 units of work of up to 500" in out[2]
