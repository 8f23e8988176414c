"""A child forked from PreloadedPython behaves like ``python SCRIPT`` / ``python -m MODULE``: its
arguments, environment, output, exit code and a kill reach the caller."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.preloaded import ROOT, PreloadedPython

_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    print("ARGS", *sys.argv[1:], flush=True)
    print("ENV", os.environ["PRELOADED_TEST"], os.getcwd(), flush=True)
    print("IMPORTED", "json" in sys.modules, flush=True)
    mode = sys.argv[1]
    if mode == "exit":
        sys.exit(3)
    if mode == "raise":
        raise ValueError("broken child")
    if mode == "wait":
        print("WAITING", flush=True)
        time.sleep(60)
    """
)


@pytest.fixture(scope="module")
def python() -> Iterator[PreloadedPython]:
    with PreloadedPython(["json"]) as preloaded:
        yield preloaded


@pytest.fixture
def script(tmp_path: Path) -> str:
    path = tmp_path / "child.py"
    path.write_text(_SCRIPT)
    return str(path)


def _env(value: str) -> dict[str, str]:
    return {**os.environ, "PRELOADED_TEST": value}


def test_a_child_gets_its_arguments_environment_and_the_preloaded_modules(python, script):
    child = python.start([script, "ok", "two words"], _env("first"))
    assert child.stdout.read().splitlines() == [
        "ARGS ok two words",
        f"ENV first {ROOT}",
        "IMPORTED True",
    ]
    assert child.wait(timeout=30) == 0
    again = python.start([script, "ok"], _env("second"))  # one child after the other
    assert f"ENV second {ROOT}" in again.stdout.read()
    assert again.wait(timeout=30) == 0


def test_exit_codes_and_errors_reach_the_caller(python, script):
    exited = python.start([script, "exit"], _env("x"))
    assert exited.wait(timeout=30) == 3
    raised = python.start([script, "raise"], _env("x"))
    assert raised.wait(timeout=30) == 1
    assert "ValueError: broken child" in raised.stderr.read()


def test_a_killed_child_reports_the_signal(python, script):
    child = python.start([script, "wait"], _env("x"))
    while child.stdout.readline() != "WAITING\n":
        pass
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL


def test_a_module_runs_as_with_dash_m(python):
    child = python.start(["-m", "json.tool", "--compact"], _env("x"))
    child.wait(timeout=30)  # reads an empty stdin: json.tool reports the error and exits 1
    assert child.returncode == 1
    assert "Expecting value" in child.stderr.read()


def test_one_child_at_a_time(python, script):
    child = python.start([script, "wait"], _env("x"))
    with pytest.raises(RuntimeError, match="one child at a time"):
        python.start([script, "ok"], _env("x"))
    child.kill()
    child.wait(timeout=30)


def test_a_kill_after_the_child_ended_does_nothing(python, script):
    child = python.start([script, "ok"], _env("x"))
    child.stdout.read()  # the child has closed its output: it is ending or ended
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == 0


def test_a_waited_child_is_gone(python, script):
    """As with Popen: once wait() returns, no process (not even a zombie) has the child's pid."""
    child = python.start([script, "wait"], _env("x"))
    child.kill()
    child.wait(timeout=30)
    with pytest.raises(ProcessLookupError):
        os.kill(child.pid, 0)
