"""Work a browser session hands to a worker thread so that the page can move on: binary mode's
answers and the reads of its next questions.

An answer in binary mode needs nothing back before the next question is shown (the questions
are loaded and the next video is claimed by the answer's own write), so the moderator's next
question does not wait for the database: the write runs in the session's worker while the page
draws (Prodigy's binary interface sends its answers in the background too). Each write checks
the session and role itself, in its own unit of work, as every action does.

One worker per browser session, so its work runs in the order it was given: an answer is
stored before a later read of questions, which therefore never asks about it again, and the
claims of one session's answers are taken in answer order. A page collects what has finished
on its next run (:meth:`DeferredWork.finished`) and reports refusals and errors there.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import streamlit as st

T = TypeVar("T")
WORK = "deferred_work"  # this browser session's DeferredWork, in st.session_state


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

    def submit(self, about: object, work: Callable[[], T]) -> Future[T]:
        """Run ``work`` after everything handed over before; ``about`` comes back with it from
        :meth:`finished`. ``work`` must not call Streamlit (it runs outside the page's run)."""
        handed: Handed[T] = Handed(about)

        def timed() -> T:
            handed.started_at = time.monotonic()
            return work()

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

    def wait(self, timeout_s: float | None = None) -> None:
        """Block until everything handed over so far has finished."""
        wait([handed.future for handed in self._handed], timeout=timeout_s)


def work() -> DeferredWork:
    """This browser session's worker (created on first use)."""
    if WORK not in st.session_state:
        st.session_state[WORK] = DeferredWork()
    return st.session_state[WORK]
