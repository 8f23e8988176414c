import os

import pytest

from tests.support.scheduling import is_time_shared, restores_scheduling, time_share


def _switch_to_fifo() -> None:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except PermissionError:
        pytest.skip("real-time scheduling needs root or CAP_SYS_NICE here")


def test_restores_scheduling_undoes_a_real_time_switch():
    with restores_scheduling():
        _switch_to_fifo()
        assert not is_time_shared()
    assert is_time_shared()


def test_time_share_leaves_real_time_scheduling():
    _switch_to_fifo()
    time_share()
    assert is_time_shared()
