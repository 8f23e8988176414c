"""A Python process that imports the heavy modules once and forks a fresh child per run.

Crash-safety tests start a child process, ``kill -9`` it and start another, often ten times in one
test. A new interpreter re-imports torch, scikit-learn and the product on every start (about 7 CPU
seconds on the CI machine); a child forked from :class:`PreloadedPython` starts in milliseconds in
the same state as a fresh interpreter that has just imported those modules (nothing else runs in
the preloading process, so no caches, threads, connections or files are inherited). The child then
runs its script exactly as ``python SCRIPT ARGS`` or ``python -m MODULE ARGS`` would, in its own
process, and is killed the same way.

Environment variables read when a module is imported come from the preloading process; those the
product reads at call time (``TAGGER_*``) can differ from run to run. One child runs at a time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Self

ROOT = Path(__file__).resolve().parents[2]
_MESSAGE_BYTES = 1 << 20

# Runs in the preloading process: imports argv[3:], then for each request (JSON argv/env/cwd plus
# the child's stdout and stderr descriptors) forks, answers the child's pid, waits for it and
# answers its exit code (negative: the signal that ended it), like subprocess.Popen.returncode.
# The ended child stays a zombie until the caller, having read the exit code, asks for it to be
# reaped: its pid cannot be reused while the caller may still signal it (a kill that arrives after
# the child ended does nothing, as with Popen), and it is gone when ForkedChild.wait returns.
# The child leaves the loop after its script: an exception or sys.exit ends it as in a fresh
# interpreter.
_SERVER = """
import importlib, json, os, runpy, socket, sys
channel = socket.socket(fileno=int(sys.argv[1]))
message_bytes = int(sys.argv[2])
for name in sys.argv[3:]:
    importlib.import_module(name)
sys.stdout.flush()
sys.stderr.flush()
channel.sendall(b"ready")
finished = None
while True:
    message, fds, _, _ = socket.recv_fds(channel, message_bytes, 2)
    if not message:
        break
    if message == b"reap":  # the caller has the exit code: the pid may be reused from now on
        os.waitpid(finished, 0)
        channel.sendall(b"reaped")
        continue
    request = json.loads(message)
    pid = os.fork()
    if pid == 0:
        channel.close()
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            os.close(fd)
        sys.stdin = open(os.devnull)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        argv = request["argv"]
        if argv[0] == "-m":
            sys.argv = argv[1:]
            sys.path[0] = os.getcwd()
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = argv
            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
            runpy.run_path(argv[0], run_name="__main__")
        break  # the child ends as an interpreter does (exit code, atexit, thread joins)
    for fd in fds:
        os.close(fd)
    channel.sendall(json.dumps(pid).encode())
    ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # left a zombie: a late kill is void
    code = ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status
    channel.sendall(json.dumps(code).encode())
    finished = pid
"""


class ForkedChild:
    """One run forked from a :class:`PreloadedPython`, with the parts of
    :class:`subprocess.Popen` that the kill tests use."""

    def __init__(self, server: PreloadedPython, pid: int, stdout: IO[str], stderr: IO[str]):
        self._server = server
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (negative: the signal that ended it); raises ``TimeoutError``."""
        if self.returncode is None:
            self.returncode = self._server._answer(timeout)
            self._server._channel.sendall(b"reap")
            if self._server._channel.recv(_MESSAGE_BYTES) != b"reaped":
                raise RuntimeError("the preloading process did not reap the child")
            self._server._running = None
            self.stderr.seek(0)
        return self.returncode


class PreloadedPython:
    """``with PreloadedPython(["torch", "core.lifecycle.training"]) as python:`` then
    ``python.start(["script.py", "arg"], env)`` or ``python.start(["-m", "scripts", ...], env)``."""

    def __init__(self, modules: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.modules = list(modules)
        self.env = dict(os.environ if env is None else env)
        self._channel: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._running: ForkedChild | None = None

    def __enter__(self) -> Self:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._channel = ours
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _SERVER,
                str(theirs.fileno()),
                str(_MESSAGE_BYTES),
                *self.modules,
            ],
            cwd=ROOT,
            env=self.env,
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        theirs.close()
        ours.settimeout(300)
        if ours.recv(_MESSAGE_BYTES) != b"ready":
            raise RuntimeError(f"preloading {self.modules} failed: {self._process.stderr.read()}")
        return self

    def __exit__(self, *exc: object) -> None:
        """Kill the running child, if any, and the preloading process (it holds no state)."""
        if self._running is not None:
            self._running.kill()
            self._running.wait(timeout=60)
        self._process.kill()
        self._process.wait()
        self._process.stderr.close()
        self._channel.close()

    def start(self, python_args: Sequence[str], env: dict[str, str]) -> ForkedChild:
        """Fork a child that runs ``python *python_args`` with ``env`` in the repository root."""
        if self._running is not None:
            raise RuntimeError("one child at a time: wait for the running one first")
        read_end, write_end = os.pipe()
        # both files outlive this call: the ForkedChild's caller reads them
        stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        request = {"argv": [*python_args], "env": env, "cwd": str(ROOT)}
        socket.send_fds(self._channel, [json.dumps(request).encode()], [write_end, stderr.fileno()])
        os.close(write_end)
        stdout = open(read_end, encoding="utf-8")  # noqa: SIM115
        child = ForkedChild(self, self._answer(60), stdout, stderr)
        self._running = child
        return child

    def _answer(self, timeout: float | None) -> int:
        self._channel.settimeout(timeout)
        message = self._channel.recv(_MESSAGE_BYTES)
        if not message:
            raise RuntimeError(f"the preloading process died: {self._process.stderr.read()}")
        return json.loads(message)
