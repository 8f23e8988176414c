"""Calls made from several threads at once, as several servers or workers checking together."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def at_once(check: Callable[[], T], times: int = 4) -> list[T]:
    """``check()`` from ``times`` threads at once; the results in no particular order."""
    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(lambda _: check(), range(times)))
