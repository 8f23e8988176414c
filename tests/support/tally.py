"""The reliability tally (inputs tried, faults injected, sessions run, anything lost), counted
over the whole run.

A pytest plugin (registered by the root conftest). Tests add to the ``tally`` fixture, a
``Counter``. Under pytest-xdist each worker counts its own share and hands it to the controller
when it finishes (``workeroutput``, xdist's channel back); the controller adds the shares up
and prints one tally for the run. Without xdist the one process counts and prints.
"""

from __future__ import annotations

from collections import Counter

import pytest

TALLY: Counter[str] = Counter()
_KEY = "reliability_tally"


@pytest.fixture
def tally() -> Counter[str]:
    return TALLY


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker hands its counts to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_KEY] = dict(TALLY)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """The controller adds up the counts of a finished worker."""
    TALLY.update(getattr(node, "workeroutput", {}).get(_KEY, {}))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if TALLY and not hasattr(config, "workerinput"):  # the controller (or the only process)
        terminalreporter.write_sep("-", "reliability tally")
        for key, value in sorted(TALLY.items()):
            terminalreporter.write_line(f"{key}: {value}")
