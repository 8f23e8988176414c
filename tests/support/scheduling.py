"""Keep the test run on normal, time-shared CPU scheduling.

SVT-AV1's encoder, run as root (as in CI containers), switches the thread that opens it to the
real-time ``SCHED_FIFO`` policy and leaves it there. Every process that thread starts afterwards
inherits the policy: a dashboard server or a Chromium renderer that then spins at full CPU
starves everything else on a 2-core machine, the test worker whose deadline would kill it
included, and the run hangs (seen in a full run: worker, server and renderer all ``SCHED_FIFO``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def is_time_shared() -> bool:
    """Whether the calling thread runs under the normal policy (``SCHED_OTHER``)."""
    return os.sched_getscheduler(0) == os.SCHED_OTHER


def time_share() -> None:
    """Put the calling thread back on the normal policy; also a ``preexec_fn`` for children."""
    if not is_time_shared():
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


@contextmanager
def restores_scheduling() -> Iterator[None]:
    """Run the block, then give the calling thread back the policy it had before."""
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        os.sched_setscheduler(0, policy, param)
