"""scripts/bench/priority_rules.py runs end to end on a small DuckDB and prints each rule's
raise, fewer videos for a higher probability."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from scripts.bench import priority_rules


def test_each_rule_is_timed_and_counted(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert priority_rules.main(["--videos", "2000", "--from", "0.95", "0.6"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("duckdb, 2,000 videos; tag ")
    raised = [
        int(n.replace(",", ""))
        for n in re.findall(r"rule from \d\.\d\d: ([\d,]+) videos raised in \d+\.\d\d s", out)
    ]
    assert len(raised) == 2 and 0 < raised[0] < raised[1], out
