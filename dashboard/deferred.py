"""Work a browser session hands to a worker thread so that the page can move on: the review
page's saves, skips and flags.

"Save & next" needs nothing back from its write before the next video is shown: that video is
claimed and read already (the review page prepares it while the current one is reviewed). So
the write runs in the session's worker while the page draws the next video, and the moderator
does not wait for the database (a save's unit of work is ~100-180 ms on 100,000 videos). Each
write checks the session and role itself, in its own unit of work, as every action does.

One worker per browser session, so its work runs in the order it was given. A page collects
what has finished on its next run (:meth:`DeferredWork.finished`) and reports refusals and
errors there. Sign-out waits for the writes still running under its token (:func:`drain`), so a
save made just before signing out is not lost.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import streamlit as st

T = TypeVar("T")
WORK = "deferred_work"  # this browser session's DeferredWork, in st.session_state

# writes handed over and not finished yet, by the sign-in token they run under
_in_flight: Counter[str] = Counter()
_changed = threading.Condition()


@dataclass
class Handed(Generic[T]):
    """A piece of work handed over: what it is about (for the page's report), its result, and
    when it started (``time.monotonic()``; a write's session check is its first step)."""

    about: object
    future: Future[T] = field(init=False)
    started_at: float | None = None


class DeferredWork:
    """A browser session's worker: work runs one piece at a time, in the order given.

    The thread ends once the session (and with it this object) is gone, after finishing what
    was handed to it.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deferred")
        self._handed: deque[Handed] = deque()

    def submit(
        self, about: object, work: Callable[[], T], *, token: str | None = None
    ) -> Future[T]:
        """Run ``work`` after everything handed over before; ``about`` comes back with it from
        :meth:`finished`. ``work`` must not call Streamlit (it runs outside the page's run).
        ``token``: the sign-in token the work runs under, which :func:`drain` waits for."""
        handed: Handed[T] = Handed(about)
        if token:
            with _changed:
                _in_flight[token] += 1

        def timed() -> T:
            handed.started_at = time.monotonic()
            try:
                return work()
            finally:
                if token:
                    with _changed:
                        _in_flight[token] -= 1
                        if _in_flight[token] <= 0:
                            del _in_flight[token]
                        _changed.notify_all()

        handed.future = self._pool.submit(timed)
        self._handed.append(handed)
        return handed.future

    def finished(self) -> list[Handed]:
        """The pieces finished since the last call, in the order given (a piece still running
        holds back those after it, so they are reported in order)."""
        done = []
        while self._handed and self._handed[0].future.done():
            done.append(self._handed.popleft())
        return done

    def pending(self) -> list[Handed]:
        """The pieces handed over and not yet collected by :meth:`finished`, in order."""
        return list(self._handed)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until everything handed over so far has finished; False when ``timeout_s``
        ran out first (the work goes on), so a caller never reads a write as done that is not."""
        _, not_done = wait([handed.future for handed in self._handed], timeout=timeout_s)
        return not not_done


def work() -> DeferredWork:
    """This browser session's worker (created on first use)."""
    if WORK not in st.session_state:
        st.session_state[WORK] = DeferredWork()
    return st.session_state[WORK]


def drain(token: str, timeout_s: float) -> bool:
    """Wait until no write handed over under ``token`` is still running (at most
    ``timeout_s``); False when some still are."""
    deadline = time.monotonic() + timeout_s
    with _changed:
        while _in_flight.get(token, 0) > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _changed.wait(left)
    return True
