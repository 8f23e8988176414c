"""`tagger ready`: each readiness check in a line, exit code 1 while one fails, and no database
written where there was none; `tagger audit`: JSON lines after a cursor."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from core.config import Settings
from db.engine import get_database
from db.queries import audit as audit_q
from scripts.cli import app

runner = CliRunner()


def test_ready_before_and_after_init(settings: Settings) -> None:
    before = runner.invoke(app, ["ready"])
    assert before.exit_code == 1, before.output
    assert "fail database: no database at" in before.output and "run `tagger init`" in before.output
    assert not (settings.data_dir / "tagger.duckdb").exists()
    assert runner.invoke(app, ["init"]).exit_code == 0
    after = runner.invoke(app, ["ready"])
    assert after.exit_code == 0, after.output
    assert after.output.splitlines()[0].startswith("ok   database: duckdb, schema ")
    assert "taxonomy nodes" in after.output and "ok   storage: " in after.output


def test_audit_prints_json_lines_after_the_cursor(settings: Settings) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    with get_database().session() as session:
        for n in range(3):
            audit_q.add_audit(session, action="login_failed", username=f"guess{n}")
    first = [json.loads(line) for line in runner.invoke(app, ["audit"]).output.splitlines()]
    assert [e["action"] for e in first][-3:] == ["login_failed"] * 3
    after = first[-2]["id"]
    rest = runner.invoke(app, ["audit", "--after", str(after), "--action", "login_failed"])
    [last] = [json.loads(line) for line in rest.output.splitlines()]
    assert last["account"] == "guess2" and last["id"] > after and "T" in last["at"]
    refused = runner.invoke(app, ["audit", "--action", "nope"])
    assert refused.exit_code == 1
    assert refused.output.startswith("error: unknown audit action(s) ['nope']")
