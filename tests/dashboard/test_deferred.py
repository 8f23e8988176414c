"""The browser session's worker: work in the order given, outcomes collected in order, and
sign-out's wait for the writes of a token."""

from __future__ import annotations

import threading

import pytest

from dashboard import deferred


def test_work_runs_in_the_order_given_and_is_collected_in_order() -> None:
    work = deferred.DeferredWork()
    gate = threading.Event()
    order: list[str] = []
    work.submit("first", lambda: (gate.wait(5), order.append("first")))
    work.submit("second", lambda: order.append("second"))
    assert work.finished() == []  # the first still runs and holds back the second
    assert [h.about for h in work.pending()] == ["first", "second"]
    assert not work.wait(0.05)  # time ran out: said, not taken for done
    gate.set()
    assert work.wait(5)
    assert order == ["first", "second"]
    assert [h.about for h in work.finished()] == ["first", "second"]
    assert work.pending() == [] and work.finished() == []


def test_an_error_comes_back_with_its_piece_and_later_work_still_runs() -> None:
    work = deferred.DeferredWork()

    def fail() -> None:
        raise ValueError("bad")

    work.submit("failing", fail)
    later = work.submit("later", lambda: 42)
    assert later.result(timeout=5) == 42
    failing, done = work.finished()
    with pytest.raises(ValueError, match="bad"):
        failing.future.result()
    assert done.future.result() == 42 and failing.started_at is not None


def test_drain_waits_for_the_token_s_writes_only() -> None:
    work, other = deferred.DeferredWork(), deferred.DeferredWork()
    gate = threading.Event()
    work.submit(None, lambda: gate.wait(5), token="mine")
    other.submit(None, lambda: gate.wait(5), token="theirs")
    assert deferred.drain("nobody", timeout_s=0.01)
    assert not deferred.drain("mine", timeout_s=0.05)  # still running
    threading.Timer(0.1, gate.set).start()
    assert deferred.drain("mine", timeout_s=5)
    assert deferred.drain("theirs", timeout_s=5)
