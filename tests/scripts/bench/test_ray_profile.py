"""The Ray profile's reading of processes and of ``ray.timeline()`` events (no cluster needed)."""

from __future__ import annotations

import os
from types import SimpleNamespace

from scripts.bench.ray_cluster import _peak_rss_kib
from scripts.bench.ray_profile import Spans, _role, by_role, timeline_lines


def _event(cat: str, start_s: float, seconds: float, worker: str) -> dict:
    return {"cat": f"task::{cat}", "ts": start_s * 1e6, "dur": seconds * 1e6, "tid": worker}


def test_processes_are_named_by_what_they_run() -> None:
    assert _role("ray::MapWorker", "ray::MapWorker(MapBatches(_ModelStage)).submit") == (
        "model actor(s)"
    )
    assert _role("ray::Map(_extr", "ray::Map(_extract_row)") == "extraction workers"
    assert _role("raylet", "/venv/ray/core/src/ray/raylet/raylet --x") == "Ray daemon: raylet"
    assert _role("ray::_StatsActo", "ray::_StatsActor.update") == "Ray Data's own actors"
    assert _role("ray", "/venv/bin/python /venv/bin/ray start --head") == "Ray daemon: ray start"
    assert _role("ray::IDLE", "ray::IDLE") is None  # not known until it runs something


def test_roles_sum_cpu_and_keep_the_highest_peak_memory_of_one_process() -> None:
    extract = "ray::Map(_extract_row)"
    meter = SimpleNamespace(
        seen={
            1: ["ray::Map", extract, 2.0, 10, 900_000],
            2: ["ray::Map", extract, 3.0, 12, 700_000],
            3: ["raylet", "/venv/ray/raylet/raylet --x", 1.0, 28, 30_000],
        }
    )
    assert by_role(meter)["extraction workers"] == (5.0, 2, 12, 900_000)
    assert by_role(meter)["Ray daemon: raylet"] == (1.0, 1, 28, 30_000)


def test_peak_memory_is_read_from_proc() -> None:
    assert _peak_rss_kib(os.getpid()) > 1024  # a Python process holds more than 1 MiB


def test_timeline_gives_busy_time_start_up_idle_time_and_tail() -> None:
    events = [
        _event("MapWorker(MapBatches(_ModelStage)).__init__", 0.0, 5.0, "w-actor"),
        _event("Map(_extract_row)", 1.0, 3.0, "w-a"),
        _event("Map(_extract_row)", 2.0, 4.0, "w-b"),
        _event("MapWorker(MapBatches(_ModelStage)).submit", 6.0, 2.0, "w-actor"),
        _event("MapWorker(MapBatches(_ModelStage)).submit", 9.0, 1.0, "w-actor"),
        {"cat": "task:execute", "ts": 0.0, "dur": 1e9, "tid": "w-a"},  # not an operator
    ]
    text = "\n".join(timeline_lines(events))
    assert "Map(_extract_row)" in text and "2 x, busy    7.0 s,   1.0 ->   6.0" in text
    assert "submit" in text and "2 x, busy    3.0 s,   6.0 ->  10.0" in text
    # ready at 5 s, last call ends at 10 s, busy 3 s: idle 2 s; extraction ended at 6 s
    assert "start-up 5.0 s" in text and "first call at 6.0 s (2.0 s)" in text
    assert "idle 2.0 s" in text and "4.0 s of work after extraction ended" in text


def test_an_actor_running_two_calls_at_once_is_idle_only_when_neither_runs() -> None:
    events = [
        _event("MapWorker(MapBatches(_ModelStage)).__init__", 0.0, 5.0, "w-actor"),
        _event("Map(_extract_row)", 1.0, 3.0, "w-a"),
        _event("MapWorker(MapBatches(_ModelStage)).submit", 6.0, 4.0, "w-actor"),
        _event("MapWorker(MapBatches(_ModelStage)).submit", 7.0, 1.0, "w-actor"),
        _event("MapWorker(MapBatches(_ModelStage)).submit", 9.0, 3.0, "w-actor"),
    ]
    text = "\n".join(timeline_lines(events))
    # ready at 5 s, calls cover 6-12 s: idle 1 s (5-6 s); the call ending last ends at 12 s
    assert "3 x, busy    8.0 s,   6.0 ->  12.0" in text
    assert "idle 1.0 s" in text and "8.0 s of work after extraction ended" in text


def test_spans_sum_over_calls_and_keep_the_first() -> None:
    spans = Spans()
    for _ in range(3):
        with spans.span("store"):
            pass
    assert spans.count["store"] == 3 and spans.total["store"] >= spans.first["store"] >= 0.0
