"""Run a child Python process and ``kill -9`` it at a chosen point, for crash-safety tests.

The child prints ``ACK <parts>`` after every step it has committed; the parent reads its lines
and kills it as soon as a condition on what it has seen (or on the database) holds, then checks
that every acknowledged step survived.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.preloaded import PreloadedPython

ROOT = Path(__file__).resolve().parents[2]
POLL_S = 0.05


@dataclass
class ChildRun:
    acks: list[list[str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    killed: bool = False
    returncode: int | None = None


def run_and_kill(
    python_args: list[str],
    env: dict[str, str],
    *,
    kill_when: Callable[[ChildRun], bool],
    timeout_s: float = 180,
    settle_s: float = 0.0,
    python: PreloadedPython | None = None,
) -> ChildRun:
    """Run ``python *python_args`` in the repository root and read its lines; SIGKILL it as soon as
    ``kill_when(run)`` is true, checked after every line and every POLL_S while it is quiet (after
    ``settle_s``, so the kill lands anywhere in the next step). Complete lines only count.

    A child that exits by itself must exit 0. With ``python``, the child is forked from that
    preloading process instead of starting a new interpreter (same script, same kill; start-up
    in milliseconds instead of seconds of imports).
    """
    if python is not None:
        child = python.start(python_args, env)
    else:
        child = subprocess.Popen(
            [sys.executable, *python_args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in child.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    run = ChildRun()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=POLL_S)
        except queue.Empty:
            line = ""
        if line is None:
            break
        if line.endswith("\n"):
            run.lines.append(line.rstrip("\n"))
            if line.startswith("ACK "):
                run.acks.append(line.split()[1:])
        if kill_when(run):
            time.sleep(settle_s)
            child.send_signal(signal.SIGKILL)
            run.killed = True
            break
    else:
        child.kill()
        raise AssertionError(
            f"child did not reach its kill point in {timeout_s} s: {run.lines[-5:]}"
        )
    child.wait(timeout=60)
    if run.killed:  # lines fully printed before the kill are acknowledged too
        while (line := lines.get(timeout=10)) is not None:
            if line.endswith("\n") and line.startswith("ACK "):
                run.acks.append(line.split()[1:])
    run.returncode = child.returncode
    if not run.killed:
        assert child.returncode == 0, child.stderr.read()
    return run


def never(run: ChildRun) -> bool:
    """``kill_when`` for a run that must finish by itself."""
    return False
