"""tests/support/browser.py: a session that never returns is killed at its deadline with its
whole browser, a failing session's traceback reaches the test, and nothing is left running."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from core.config import Settings
from tests.support.browser import (
    BrowserSessionError,
    browser_available,
    kill_tree,
    process_tree,
    run_in_browser,
    serve_dashboard,
)

DEADLINE_S = 30
# the hanging session waits out its whole deadline: long enough for Chromium to start on a busy
# machine (a whole session takes about 2 s here), short enough not to idle the run
HANG_DEADLINE_S = 15


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _assert_all_gone(pids: set[int], within_s: float = 10) -> None:
    deadline = time.monotonic() + within_s
    while (left := {pid for pid in pids if _alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"still running: {left}"


def _browser_tree(browser) -> list[int]:
    """Pids of this child and everything under it (Playwright's driver, Chromium's processes)."""
    browser.new_page().goto("data:text/html,<title>up</title>")
    return [os.getpid(), *process_tree(os.getpid())]


def _title_and_tree(browser, html: str) -> tuple[str, list[int]]:
    page = browser.new_page()
    page.goto(f"data:text/html,{html}")
    return page.title(), _browser_tree(browser)


def _hang(browser, pid_file: str) -> None:
    """Never returns; beside Chromium, a process in a session of its own that outlives its
    parent's death, as a stuck Chromium does."""
    subprocess.Popen(["setsid", "sleep", "300"])
    Path(pid_file).write_text(" ".join(map(str, _browser_tree(browser))))
    while True:
        time.sleep(1)


def _fail(browser) -> None:
    browser.new_page().goto("data:text/html,<p>x</p>")
    raise ValueError("the page showed x")


def test_kill_tree_reaches_descendants_in_their_own_session() -> None:
    """Like Playwright's Chromium: a grandchild that called setsid() is still killed."""
    shell = subprocess.Popen(
        ["sh", "-c", "setsid sleep 300 & sleep 300 & wait"], start_new_session=True
    )
    deadline = time.monotonic() + 10
    while len(tree := process_tree(shell.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(tree) == 2, tree
    kill_tree(shell.pid)
    shell.wait(timeout=10)
    _assert_all_gone(tree)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_dashboard_server_answers_then_stops_with_its_children(settings: Settings) -> None:
    with serve_dashboard(settings.data_dir) as server:
        with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=10) as response:
            assert response.status == 200
        tree = {server.pid, *process_tree(server.pid)}  # the server (exec) and any job workers
    _assert_all_gone(tree)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=5)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_session_returns_its_value_and_leaves_nothing_running() -> None:
    if reason := browser_available():
        pytest.skip(reason)
    title, tree = run_in_browser(_title_and_tree, "<title>hello</title>", timeout_s=DEADLINE_S)
    assert title == "hello"
    assert len(tree) >= 3, tree  # the child, Playwright's driver, Chromium
    _assert_all_gone(set(tree))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_session_past_its_deadline_is_killed_with_its_browser(tmp_path: Path) -> None:
    if reason := browser_available():
        pytest.skip(reason)
    pid_file = tmp_path / "pids"
    started = time.monotonic()
    with pytest.raises(BrowserSessionError, match=f"ran past its {HANG_DEADLINE_S} s deadline"):
        run_in_browser(_hang, str(pid_file), timeout_s=HANG_DEADLINE_S)
    elapsed = time.monotonic() - started
    assert HANG_DEADLINE_S <= elapsed < HANG_DEADLINE_S + 15, elapsed
    tree = {int(pid) for pid in pid_file.read_text().split()}  # written once Chromium ran
    assert len(tree) >= 3, tree
    _assert_all_gone(tree)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_failing_session_reports_its_traceback() -> None:
    if reason := browser_available():
        pytest.skip(reason)
    with pytest.raises(BrowserSessionError) as failure:
        run_in_browser(_fail, timeout_s=DEADLINE_S)
    message = str(failure.value)
    assert "in _fail" in message and "ValueError: the page showed x" in message, message
