"""Browser tests that cannot hang the run: a Playwright session under a hard deadline, and the
dashboard served for a data directory.

Why a child process: a stuck Chromium (its zygote blocked in the kernel reaping children) once
hung ``browser.close()`` forever, and neither Playwright's timeouts nor pytest-timeout can
interrupt a call blocked like that. So the session runs in a child (``python -m
tests.support.browser``) with its own session and process group, made a child subreaper so that
everything it starts stays under it (Playwright starts Chromium in a group of its own). The parent
waits for the result until the deadline, then freezes and SIGKILLs that whole tree: on success
too, so nothing ever waits for a browser to close.

Writing a browser test::

    def _session(browser: Browser, url: str) -> int:      # module level: the child imports it
        page = browser.new_page()
        page.goto(url)
        ...
        return 42                                          # any picklable value

    def test_something(settings: Settings) -> None:
        with serve_dashboard(settings.data_dir) as server:
            assert run_in_browser(_session, server.url, timeout_s=120) == 42

The session's exception comes back as a :class:`BrowserSessionError` carrying the child's
traceback, and so does an expired deadline. Keep ``timeout_s`` under pytest's ``timeout``.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.bench.live_dashboard import BROWSER_FLAGS, CHROMIUM
from tests.support.scheduling import time_share

ROOT = Path(__file__).resolve().parents[2]
POLL_S = 0.1
_JOB = "job.pickle"
_RESULT = "result.pickle"
_LOG = "child.log"
_PR_SET_CHILD_SUBREAPER = 36


class BrowserSessionError(AssertionError):
    """A browser session failed, or ran past its deadline and was killed."""


@dataclass(frozen=True)
class DashboardServer:
    url: str  # http://127.0.0.1:PORT
    log: Path  # the server's stdout and stderr
    pid: int  # `tagger serve`, which becomes the Streamlit server (exec)


def browser_available() -> str | None:
    """Why browser tests cannot run here, or None when they can (use with ``pytest.skip``)."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM}"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is a dev dependency"
    return None


def run_in_browser(session: Callable[..., Any], *args: Any, timeout_s: float) -> Any:
    """``session(browser, *args)`` in a child process with a fresh Chromium; its return value.

    ``session`` must be a module-level function, ``args`` picklable values of importable types.
    Raises :class:`BrowserSessionError` when the session raises, the child dies, or ``timeout_s``
    (the whole session, Chromium's start included) passes; the child's process tree is killed in
    every case.
    """
    workdir = Path(tempfile.mkdtemp(prefix="tagger-browser-"))
    try:
        (workdir / _JOB).write_bytes(_job(session, args))
        with (workdir / _LOG).open("wb") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "tests.support.browser", str(workdir)],
                cwd=ROOT,
                env={**os.environ, "TMPDIR": str(workdir)},  # Chromium's profile goes there too
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            outcome = _wait_for_result(child, workdir, timeout_s)
        finally:
            kill_tree(child.pid)
            child.wait(timeout=30)
        name = getattr(session, "__qualname__", repr(session))
        if outcome is None:
            raise BrowserSessionError(
                f"browser session {name} ran past its {timeout_s:.0f} s deadline and was killed "
                f"with its browser; its output:\n{_tail(workdir / _LOG)}"
            )
        ok, value = outcome
        if not ok:
            raise BrowserSessionError(f"browser session {name} failed in its child:\n{value}")
        return value
    finally:
        # best effort: a process stuck in the kernel may still hold a file there
        shutil.rmtree(workdir, ignore_errors=True)


def _job(session: Callable[..., Any], args: tuple[Any, ...]) -> bytes:
    """Where the session is (module file and qualified name) and its pickled arguments.

    Not the function pickled: pytest imports test modules under names that are not importable
    (``dashboard.test_x`` is no module of the ``dashboard`` package), so the child loads the file.
    """
    qualname = getattr(session, "__qualname__", "")
    if not callable(session) or "<" in qualname:
        raise TypeError(f"a browser session must be a module-level function, not {session!r}")
    module_file = sys.modules[session.__module__].__file__
    return pickle.dumps((module_file, qualname, pickle.dumps(args)))


def _wait_for_result(
    child: subprocess.Popen[bytes], workdir: Path, timeout_s: float
) -> tuple[bool, Any] | None:
    """``(ok, value or traceback)`` once the child wrote it; None when the deadline passed."""
    deadline = time.monotonic() + timeout_s
    result = workdir / _RESULT
    while time.monotonic() < deadline:
        if result.exists():
            return pickle.loads(result.read_bytes())
        if child.poll() is not None:
            return False, (
                f"the child exited with code {child.returncode} before reporting a result; "
                f"its output:\n{_tail(workdir / _LOG)}"
            )
        time.sleep(POLL_S)
    return None


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:]


def process_tree(root: int) -> set[int]:
    """The pids of ``root``'s living descendants (from /proc; ``root`` itself not included)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):  # exited while we read
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            if pid not in found:
                found.add(pid)
                todo.append(pid)
    return found


def kill_tree(root: int) -> None:
    """SIGKILL ``root``, its process group and every descendant, stopping them first so that
    none can start another process meanwhile."""
    stopped: set[int] = set()
    while new := ({root} | process_tree(root)) - stopped:
        for pid in new:
            _signal(pid, signal.SIGSTOP)
        stopped |= new
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(root, signal.SIGKILL)
    for pid in stopped:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile: nothing to do
        os.kill(pid, sig)


@contextlib.contextmanager
def serve_dashboard(
    data_dir: Path, *, env: Mapping[str, str] | None = None, start_timeout_s: float = 90
) -> Iterator[DashboardServer]:
    """``tagger serve`` for ``data_dir`` on a free loopback port, healthy before it is yielded;
    always stopped afterwards (with every process it started). ``env`` adds variables."""
    port = free_port()
    log = data_dir / f"dashboard-{port}.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "scripts", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, **(env or {}), "TAGGER_DATA_DIR": str(data_dir)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(server, url, log, start_timeout_s)
        yield DashboardServer(url=url, log=log, pid=server.pid)
    finally:
        kill_tree(server.pid)
        server.wait(timeout=30)


def _wait_healthy(server: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                state = "exited" if server.poll() is not None else f"not healthy in {timeout_s} s"
                raise RuntimeError(f"dashboard {state}; its log:\n{_tail(log)}") from None
            time.sleep(0.1)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel picks it: no collisions between workers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child(workdir: Path) -> None:
    """The child's side: run the job, write ``(ok, value or traceback)``, then wait to be killed.

    It never closes the browser (that is what could hang) and never exits by itself once the
    browser runs: its descendants would then leave its tree, out of the parent's reach.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    time_share()  # Chromium must never inherit a real-time policy: spinning, it starves the parent
    from playwright.sync_api import sync_playwright

    module_file, qualname, args = pickle.loads((workdir / _JOB).read_bytes())
    spec = importlib.util.spec_from_file_location("_browser_session", module_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    session = getattr(module, qualname)
    args = pickle.loads(args)
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(BROWSER_FLAGS))
        outcome: tuple[bool, Any] = (True, session(browser, *args))
        data = pickle.dumps(outcome)
    except BaseException:  # noqa: BLE001 - sent to the parent, which raises BrowserSessionError
        data = pickle.dumps((False, traceback.format_exc()))
    partial = workdir / f"{_RESULT}.partial"
    partial.write_bytes(data)
    partial.rename(workdir / _RESULT)  # atomic: the parent never reads half a pickle
    sys.stdout.flush()
    while True:
        signal.pause()


if __name__ == "__main__":
    _child(Path(sys.argv[1]))


def until_reported(page, text: str, *, within_s: float = 90.0) -> None:
    """Run the review page again (its navigation link) until ``text`` shows: the page reports a
    write's outcome on its next run and does not poll for it. A deadline, not a number of runs:
    on a loaded machine the write itself can take seconds."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=60_000)
        if page.get_by_text(text).count():
            return
        page.wait_for_timeout(250)
        page.get_by_role("link", name="Review", exact=True).click()
    page.get_by_text(text).wait_for(timeout=1_000)
