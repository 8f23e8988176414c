"""`tagger ready`: each readiness check in a line, exit code 1 while one fails, and no database
written where there was none."""

from __future__ import annotations

from typer.testing import CliRunner

from core.config import Settings
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
