"""The Ray scaling table: layouts a machine can run, speed-up and efficiency (no cluster needed;
the whole run is exercised by hand, see docs/BENCHMARKS.md)."""

from __future__ import annotations

import time

import pytest

from scripts.bench.ray_scaling import (
    STEADY_MIN_VIDEOS,
    Layout,
    Measured,
    ScalingError,
    layouts,
    machine_cpu_seconds,
    main,
    steady_rate,
    table,
)


def _measured(nodes: int, cpus: int, wall_s: float, failed: int = 3) -> Measured:
    return Measured(
        Layout(nodes, cpus),
        wall_s,
        5.0,
        20,
        200.0,
        {"failed": failed, "ready": 20},
        1.5 * wall_s,
        steady_videos_per_s=20 / wall_s * 1.2,
        failure_reasons={"the file is empty (0 bytes)": 1, "not a readable media file": failed - 1},
        driver_cpu_s=2.0,
        cpu_by_role={
            "model actor(s)": 10.0 * nodes,
            "extraction workers": 12.0,
            "Ray daemon: raylet": 1.0 * nodes,
            "other Ray workers": 1.0,
        },
    )


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
    assert lines[2].split("|")[8:11] == [" 0.60 ", " 1.00 ", " 1.5 "]  # steady; cores busy
    assert lines[3].split("|")[8:10] == [" 0.96 ", " 1.60 "]


def test_each_layout_s_failure_reasons_follow_the_table_most_frequent_first() -> None:
    text = table([_measured(1, 2, 40.0), _measured(2, 2, 25.0, failed=4)])
    assert "Failed on 2 x 2:\n- 3 x not a readable media file\n- 1 x the file is empty" in text


def test_the_steady_rate_is_the_middle_half_of_the_finished_videos() -> None:
    # 64 videos: a slow start (16 by 10 s) and a slow end (the last 15 at 60 s) do not count;
    # from the 17th to the 49th finished video took 8 s
    finished = [10.0] * 16 + [12.0 + 0.25 * i for i in range(33)] + [60.0] * 15
    assert len(finished) == STEADY_MIN_VIDEOS
    assert steady_rate(finished) == pytest.approx(32 / 8.0)
    assert steady_rate(finished[:-1]) is None


def test_the_machine_s_busy_cpu_seconds_grow_with_work() -> None:
    before = machine_cpu_seconds()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert machine_cpu_seconds() - before >= 0.25


def test_rows_with_other_statuses_are_flagged_as_not_comparable() -> None:
    rows = [_measured(1, 2, 40.0), _measured(2, 2, 25.0, failed=4)]
    assert "**The layouts disagree on the statuses**" in table(rows)


def test_the_cpu_table_splits_each_layout_s_cpu_per_video_by_role() -> None:
    """20 videos; the model actors' CPU grows with the nodes (one actor each, models loaded
    per actor), the rest is the machine's busy CPU that no process of the run accounts for."""
    text = table([_measured(1, 2, 40.0), _measured(2, 2, 25.0)])
    rows = [line for line in text.splitlines() if line.startswith("| 1 x 2 | default | 0.")]
    rows += [line for line in text.splitlines() if line.startswith("| 2 x 2 | default | 0.")]
    cells = [[float(c) for c in row.split("|")[3:9]] for row in rows]
    # driver, model actors, extraction, Ray's own (raylets + others), rest, all (1.5 x wall)
    assert cells[0] == [0.10, 0.50, 0.60, 0.10, 1.70, 3.00]
    assert cells[1] == [0.10, 1.00, 0.60, 0.15, 0.03, 1.88]  # rest: 37.5 - 37 = 0.5 s


def test_stand_in_models_replace_both_models_and_nothing_else() -> None:
    from scripts.bench.ray_scaling import model_factories
    from scripts.bench.stand_ins import InstantEncoder, InstantTranscriber

    assert model_factories(False) == {}  # the configured models
    factories = model_factories(True)
    assert isinstance(factories["encoder_factory"](), InstantEncoder)
    assert isinstance(factories["transcriber_factory"](), InstantTranscriber)
