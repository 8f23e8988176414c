"""A short memory of what was read from the database a moment ago.

On DuckDB every read opens the database file under the lock that moderators' saves wait for
(~36 ms each on 20,000 videos), and some reads come in bursts. The media routes keep a session
they checked and a stored file they found for :data:`FRESH_S` (a player's Range requests, a
review page's thumbnails): sign-out in this server forgets its session at once; a session ended
elsewhere (an admin disabling the account, the CLI) stops fetching media within :data:`FRESH_S`.
The router keeps the user a button's action has just read for the rest of that run
(:mod:`dashboard.state`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
FRESH_S = 5.0
LIMIT = 4096  # entries kept at most (a burst from every open player fits many times over)


class Recent(Generic[K, V]):
    """A thread-safe map whose entries count for ``fresh_s`` seconds after they were put."""

    def __init__(
        self,
        fresh_s: float = FRESH_S,
        *,
        limit: int = LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fresh_s = fresh_s
        self.limit = limit
        self.clock = clock
        self._entries: dict[K, tuple[V, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value put less than ``fresh_s`` ago, else None."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or self.clock() - entry[1] >= self.fresh_s:
            return None
        return entry[0]

    def put(self, key: K, value: V) -> None:
        now = self.clock()
        with self._lock:
            self._entries.pop(key, None)  # re-inserted last: the dict stays in age order
            self._entries[key] = (value, now)
            while len(self._entries) > self.limit:
                del self._entries[next(iter(self._entries))]

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
