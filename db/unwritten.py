"""Answers kept while nothing is written to a DuckDB database, for the pollers that would
otherwise open an idle database every few seconds (~15-30 ms of CPU each time): the dashboard's
every-2-s job fragments (``dashboard/cache.py``) and the metrics' scrape (``core/metrics.py``).

An answer is asked again only after a commit by any process changed the database's files
(:meth:`db.engine.Database.file_state`; a read does not), once it is older than ``max_age_s``
(for answers that also depend on the clock, such as claims that expire), or when ``keep``
refused it (a job still queued or running: progress to show, a worker that may have died).
PostgreSQL is asked each time: its files are not ours to read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from db.engine import Database

T = TypeVar("T")


class UnwrittenAnswers:
    """Answers to questions about databases, each kept while its database is unwritten."""

    def __init__(self, *, max_age_s: float = math.inf) -> None:
        self.max_age_s = max_age_s
        # (database URL, question) -> the database's files when answered, when, and the answer
        self._kept: dict[tuple[str, Hashable], tuple[object, float, Any]] = {}

    def ask(
        self,
        db: Database,
        question: Hashable,
        ask: Callable[[], T],
        *,
        keep: Callable[[T], bool] = lambda _answer: True,
    ) -> T:
        """``ask()``'s answer, or the one kept for ``question`` while the rules above allow."""
        key = (db.url, question)
        files = db.file_state()  # before asking: a write meanwhile shows as a change next time
        kept = self._kept.get(key)
        if (
            files is not None
            and kept is not None
            and kept[0] == files
            and time.monotonic() - kept[1] < self.max_age_s
        ):
            return kept[2]
        answer = ask()
        if files is not None and keep(answer):
            self._kept[key] = (files, time.monotonic(), answer)
        else:
            self._kept.pop(key, None)
        return answer
