"""scripts/cli/__init__.py: any TaggerError ends a command in one line; a bug keeps its
traceback."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from core.errors import TaggerError
from core.media.decode import MediaError
from scripts.cli import _ReportingGroup


def _app(error: Exception) -> typer.Typer:
    """An app with the product's reporting group and one command that raises ``error``."""
    app = typer.Typer(cls=_ReportingGroup, pretty_exceptions_enable=False)

    @app.command()
    def boom() -> None:
        raise error

    @app.command()
    def other() -> None:  # two commands, so `boom` is a sub-command as in `tagger`
        pass

    return app


@pytest.mark.parametrize(
    "error", [TaggerError("disk  full\non /data"), MediaError("no video stream")]
)
def test_a_tagger_error_is_one_line_and_exit_1(error: Exception) -> None:
    result = CliRunner().invoke(_app(error), ["boom"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1
    assert lines == [f"error: {' '.join(str(error).split())}"]
    assert "Traceback" not in result.output


def test_a_bug_keeps_its_exception_and_traceback() -> None:
    result = CliRunner().invoke(_app(ValueError("a bug")), ["boom"])
    assert isinstance(result.exception, ValueError)
    assert result.exc_info is not None and result.exc_info[2] is not None
    assert "error:" not in result.output


@pytest.mark.parametrize("command", ["export", "backup"])
def test_an_output_path_that_cannot_be_written_is_one_line(settings, tmp_path, command) -> None:
    from scripts.cli import app

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    out = blocker / "out.csv"
    result = CliRunner().invoke(app, [command, str(out)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("error:") and str(out) in lines[0]
