"""The DuckDB file's inter-process lock, fair to its waiters: they get it roughly in the order they
asked, whether they are processes or threads.

Why not a plain lock: the kernel does not hand a released ``flock`` to a waiter, it wakes the
waiter and gives the lock to whoever asks first. A process that releases and re-takes the lock in
a loop (an import, an ingest storing results) is running while the woken waiter is not, so it
wins nearly every time. With filelock, which polls a non-blocking ``flock`` every 50 ms, it was
worse: behind a CLI import, a moderator's save waited up to 9.5 s and a writer loop 19 s.

How: a turnstile of two blocking ``flock`` locks, each taken on a file description of its own
(so threads of one process exclude each other like processes do):

1. lock ``<path>.queue``;
2. lock ``<path>``, the lock itself;
3. unlock ``<path>.queue``.

Only the holder of the queue waits on the lock itself, so a process that has just released the
lock has to queue behind the waiters already there. Linux chains blocked ``flock`` requests and
wakes them one after another (measured on Linux 6.18: six processes blocked 50 ms apart got the
lock in that order in 10 of 10 trials; with two CPU hogs on two cores, neighbours swapped in half
the trials). The kernel drops both locks of a process that dies, so a crash while holding or
waiting blocks nobody and leaves nothing to clean up.

A blocking ``flock`` cannot be interrupted, so a contended wait runs in a helper thread and the
caller waits for it with a timeout. A caller that gives up leaves its helper in line with its
place kept: the next caller of this lock in the process takes that place over, and if nobody
does, the helper releases the lock as soon as it gets it.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from core.errors import TaggerError

QUEUE_SUFFIX = ".queue"


class LockTimeoutError(TaggerError):
    """The lock was not obtained within the timeout."""


class FairFileLock:
    """Exclusive across processes and across threads. A thread that holds it may take it again:
    nested acquisitions are counted, and the last release frees it."""

    def __init__(self, path: Path, *, timeout_s: float) -> None:
        if timeout_s < 0:
            raise ValueError(f"the lock timeout must be 0 s or more, got {timeout_s} s")
        self.path = path
        self.queue_path = path.with_name(path.name + QUEUE_SUFFIX)
        self.timeout_s = timeout_s
        self._thread = threading.local()  # the calling thread's held file and nesting depth
        self._turns_lock = threading.Lock()  # guards _given_up and each _Turn's given_up
        self._given_up: deque[_Turn] = deque()  # turns whose callers timed out, oldest first

    def acquire(self) -> None:
        """Wait for the lock; :class:`LockTimeoutError` after ``timeout_s``."""
        depth = getattr(self._thread, "depth", 0)
        if depth == 0:
            self._thread.fd = self._take(deadline=time.monotonic() + self.timeout_s)
        self._thread.depth = depth + 1

    def release(self) -> None:
        depth = getattr(self._thread, "depth", 0)
        if depth == 0:
            raise RuntimeError(f"release of {self.path}, which this thread does not hold")
        self._thread.depth = depth - 1
        if depth == 1:
            _unlock_and_close(self._thread.fd)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def _take(self, *, deadline: float) -> int:
        """The descriptor of ``path``, locked: at once if nobody holds or waits, else in turn."""
        turn = self._take_over_given_up_turn()
        if turn is None:
            queue_fd = _open(self.queue_path)
            try:
                lock_fd = _open(self.path)
            except OSError:
                os.close(queue_fd)
                raise
            in_queue = _try_lock(queue_fd)
            if in_queue and _try_lock(lock_fd):
                _unlock_and_close(queue_fd)
                return lock_fd
            turn = _Turn(
                queue_fd,
                lock_fd,
                in_queue=in_queue,
                came=self._turn_came,
                thread_name=f"waiting for {self.path.name}",
            )
        return self._wait_for(turn, deadline=deadline)

    def _take_over_given_up_turn(self) -> _Turn | None:
        """The oldest turn a caller of this process gave up, if any: it is further ahead in line.

        Turns inherited through ``fork`` are dropped: their helper threads stayed in the parent
        (their descriptors are left open, as any descriptor a child inherits).
        """
        with self._turns_lock:
            while self._given_up:
                turn = self._given_up.popleft()
                if turn.pid == os.getpid():
                    turn.given_up = False
                    return turn
        return None

    def _wait_for(self, turn: _Turn, *, deadline: float) -> int:
        try:
            came = turn.done.wait(max(0.0, deadline - time.monotonic()))
        except BaseException:  # interrupted (Ctrl-C): leave nothing held behind
            if not self._give_up(turn) and turn.error is None:
                _unlock_and_close(turn.lock_fd)
            raise
        if not came and self._give_up(turn):
            raise LockTimeoutError(f"{self.path} was not free within {self.timeout_s} s")
        if turn.error is not None:
            raise turn.error
        return turn.lock_fd

    def _give_up(self, turn: _Turn) -> bool:
        """Leave ``turn`` to the next caller, or to its helper to free the lock when it comes;
        False if the lock came meanwhile (the caller has it)."""
        with self._turns_lock:
            if turn.done.is_set():
                return False
            turn.given_up = True
            self._given_up.append(turn)
            return True

    def _turn_came(self, turn: _Turn) -> None:
        """Called by the helper thread once it holds the lock (or failed): hand the lock to the
        waiting caller, or free it if the caller gave up and nobody took the turn over."""
        with self._turns_lock:
            if turn.given_up and turn.error is None:
                self._given_up.remove(turn)
                _unlock_and_close(turn.lock_fd)
            else:
                turn.done.set()


class _Turn:
    """A place in the turnstile, waited in by a helper thread so that the caller can give up."""

    def __init__(
        self,
        queue_fd: int,
        lock_fd: int,
        *,
        in_queue: bool,
        came: Callable[[_Turn], None],
        thread_name: str,
    ) -> None:
        self.lock_fd = lock_fd
        self.pid = os.getpid()
        self.done = threading.Event()
        self.error: OSError | None = None
        self.given_up = False
        self._came = came
        self._queue_fd = queue_fd
        self._in_queue = in_queue
        threading.Thread(target=self._wait_in_line, name=thread_name, daemon=True).start()

    def _wait_in_line(self) -> None:
        try:
            if not self._in_queue:
                fcntl.flock(self._queue_fd, fcntl.LOCK_EX)
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        except OSError as e:  # handed to the caller by FairFileLock._wait_for
            self.error = e
            os.close(self.lock_fd)
        finally:
            _unlock_and_close(self._queue_fd)
        self._came(self)


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock_and_close(fd: int) -> None:
    """Unlock explicitly: a child forked meanwhile shares the file description, so closing our
    descriptor alone would leave the lock held."""
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
