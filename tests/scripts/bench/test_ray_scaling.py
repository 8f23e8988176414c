"""The Ray scaling table: layouts a machine can run, speed-up and efficiency (no cluster needed;
the whole run is exercised by hand, see docs/BENCHMARKS.md)."""

from __future__ import annotations

import pytest

from scripts.bench.ray_scaling import Layout, Measured, ScalingError, layouts, main, table


def _measured(nodes: int, cpus: int, wall_s: float, failed: int = 3) -> Measured:
    return Measured(Layout(nodes, cpus), wall_s, 5.0, 20, 200.0, {"failed": failed, "ready": 20})


def test_every_node_count_meets_every_actor_count() -> None:
    assert layouts([1, 2], 2, [None, 4], cores=16) == [
        Layout(1, 2, None),
        Layout(1, 2, 4),
        Layout(2, 2, None),
        Layout(2, 2, 4),
    ]


def test_a_layout_needing_more_cores_than_the_machine_is_refused_in_words() -> None:
    with pytest.raises(
        ScalingError, match="8 node\\(s\\) x 2 CPUs need 16 cores; this machine has 2"
    ):
        layouts([1, 8], 2, [None], cores=2)


def test_the_command_line_refuses_it_before_starting_anything(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--nodes", "4096", "--cpus", "2"])
    assert "need 8192 cores" in capsys.readouterr().err


def test_speed_up_and_efficiency_are_against_the_first_row() -> None:
    rows = [_measured(1, 2, 40.0), _measured(2, 2, 25.0), _measured(4, 2, 10.0)]
    lines = table(rows).splitlines()
    assert lines[2].split("|")[6:8] == [" 1.00 ", " 1.00 "]
    assert lines[3].split("|")[6:8] == [" 1.60 ", " 0.80 "]  # 40/25 faster on twice the CPUs
    assert lines[4].split("|")[6:8] == [" 4.00 ", " 1.00 "]  # linear
    assert "0.50" in lines[2] and "s of video" in lines[0]  # 20 videos in 40 s
    assert "disagree" not in table(rows)


def test_rows_with_other_statuses_are_flagged_as_not_comparable() -> None:
    rows = [_measured(1, 2, 40.0), _measured(2, 2, 25.0, failed=4)]
    assert "**The layouts disagree on the statuses**" in table(rows)
