"""The PostgreSQL queue benchmark on a small database: it fills it, and times every read with
and without the indexes (the numbers themselves come from a run at a million videos)."""

from __future__ import annotations

import pytest

from scripts.bench.postgres_queue import CLAIM_SORTS, CLAIMS, LATE, READS, main


@pytest.mark.postgres
def test_every_read_is_timed_in_three_columns(new_postgres_db, capsys) -> None:
    assert main(["--url", new_postgres_db(), "--videos", "20000", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "20,000 videos inserted" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "read" not in line]
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == [
        *READS,
        *CLAIMS,
        *CLAIM_SORTS,
        LATE,
    ]
    assert all(len(row.split(" | ")) == 5 and "disagree" not in row for row in rows)
    matches = {row.split(" | ")[0].lstrip("| "): row.split(" | ")[1] for row in rows}
    assert matches["default order"] == "20,000"
    assert matches["search, one word (1 %)"] == "200"  # b42: 100 in every 10,000
    assert matches["search, a word pair (0.01 %)"] == "2"
    assert matches["high and urgent only"] == "22"  # 20 high, 2 urgent
    # Review next's candidates: 16 for each account (20 undetected videos are the Japanese one's)
    assert {matches[name] for name in [*CLAIMS, *CLAIM_SORTS]} == {"16"}
    # raised as they arrived, one a second: the urgent one raised 10,007 s ago and the high
    # ones raised over 4 h ago (15,003 ... 19,003 s) are late
    assert matches[LATE] == "6"


def test_a_duckdb_url_is_refused(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--url", f"duckdb:///{tmp_path / 'x.duckdb'}"])
    assert "must name a PostgreSQL database" in capsys.readouterr().err
