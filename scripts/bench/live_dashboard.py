"""A real dashboard server (``streamlit run dashboard/server.py``) and browser sessions, each in
its own process group with a hard deadline: headless Chromium can hang in the kernel, so a stuck
run is killed as a whole group and reported, never left hanging. Shared by the media-serving
benchmark and the browser tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dashboard.launch import SERVER_FILE, serve_command

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# Headless Chromium for every browser session (benchmarks and tests). --no-zygote (needs
# --no-sandbox): no zygote processes, whose reaping in the kernel is what once got stuck.
BROWSER_FLAGS = (
    "--headless",
    "--no-zygote",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
# the media sessions play video without a click
CHROMIUM_ARGS = [*BROWSER_FLAGS, "--autoplay-policy=no-user-gesture-required"]
STARTUP_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc), so a browser that left the process group
    (Chromium daemonises some helpers) is found too."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def kill_tree(process: subprocess.Popen, *, grace_s: float = 10) -> None:
    """SIGTERM the process group, then SIGKILL the group and every descendant still alive."""
    if process.poll() is None:
        doomed = _descendants(process.pid)
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            doomed += _descendants(process.pid)
            for pid in [process.pid, *doomed]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait(timeout=grace_s)
        except ProcessLookupError:
            process.wait(timeout=grace_s)


@contextmanager
def dashboard_server(
    env: dict[str, str], log_path: Path, *, server_file: Path = SERVER_FILE
) -> Iterator[tuple[str, int]]:
    """``(url, pid)`` of a dashboard server started like ``tagger serve`` on a free port, with
    ``env`` (e.g. ``TAGGER_DATA_DIR``); stopped, with its whole group, on exit."""
    port = free_port()
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            serve_command(host="127.0.0.1", port=port, server_file=server_file),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError(
                            "dashboard server did not start:\n" + log_path.read_text()[-3000:]
                        ) from None
                    time.sleep(0.5)
            yield url, server.pid
        finally:
            kill_tree(server)


def leftover_output(child: subprocess.Popen) -> tuple[str, str]:
    """What a killed child wrote, without waiting on pipes a stray process may still hold."""
    try:
        return child.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        return "", "(output unavailable: a process still held the pipes)"


def run_browser_script(script: Path, args: list[str], *, timeout_s: float) -> dict:
    """Run ``python script *args`` (a Playwright session that prints one JSON object as its
    last line) in its own process group; kill the group at the deadline and raise."""
    return run_browser_command([sys.executable, str(script), *args], timeout_s=timeout_s)


def run_browser_command(command: list[str], *, timeout_s: float) -> dict:
    """Run ``command`` (a Playwright session that prints one JSON object as its last line) in
    its own process group; kill the group at the deadline and raise."""
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_tree(child, grace_s=5)
        out, err = leftover_output(child)
        raise TimeoutError(
            f"browser session passed its {timeout_s:.0f} s deadline and was killed:\n{err[-3000:]}"
        ) from None
    finally:
        kill_tree(child, grace_s=5)
    if child.returncode != 0 or not out.strip():
        raise RuntimeError(f"browser session failed ({child.returncode}):\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])
