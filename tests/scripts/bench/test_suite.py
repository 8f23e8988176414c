"""scripts/bench/suite.py: argument parsing, the table format, and a CI-sized run of two
sections."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import numpy as np
import pytest

from core.media.decode import probe
from scripts.bench import suite as bench
from scripts.bench.media import keyframe_clips
from scripts.bench.suite import (
    DEFAULT_SECTIONS,
    FULL,
    QUICK,
    SECTIONS,
    Row,
    format_table,
    parse_args,
)


def test_defaults_select_every_section_but_the_ray_ones_at_full_size() -> None:
    options = parse_args([])
    assert options.sections == DEFAULT_SECTIONS
    assert DEFAULT_SECTIONS == tuple(s for s in SECTIONS if not s.startswith("ray"))
    assert parse_args(["--only", "ray"]).sections == ("ray",)
    assert parse_args(["--only", "ray-backlog,ray"]).sections == ("ray", "ray-backlog")
    assert options.sizes == FULL and options.out is None


def test_quick_and_only_select_sizes_and_sections(tmp_path: Path) -> None:
    options = parse_args(["--quick", "--only", "retrain, ingest", "--out", str(tmp_path / "b.md")])
    assert options.sections == ("ingest", "retrain")  # always in the suite's order
    assert options.sizes == QUICK
    assert options.out == tmp_path / "b.md"
    assert max(QUICK.retrain_videos) < min(FULL.retrain_videos[-1], FULL.queue_videos[0])


@pytest.mark.parametrize("only", ["ingest,nope", ","])
def test_unknown_or_empty_sections_are_refused(
    only: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--only", only])
    assert "choose from" in capsys.readouterr().err


def test_table_has_one_line_per_row_with_comparison_goal_and_verdict() -> None:
    rows = [
        Row(
            "keyframes",
            "sample 16 keyframes",
            "120 ms",
            "decode every frame: 3.00 s",
            "25.0x faster",
            ">= 10x",
            True,
        ),
        Row("queue", "1,000,000 videos | counts", "250 ms", "-", "-", "< 200 ms", False),
        Row("whisper", "faster-whisper", "1.00 s", "openai-whisper: not measured: no checkpoint"),
    ]
    table = format_table(
        rows, command="scripts/bench/suite.py --quick", machine_line="AMD EPYC, 2 cores"
    )
    lines = table.splitlines()
    assert "`scripts/bench/suite.py --quick`" in lines[0] and "AMD EPYC, 2 cores" in lines[1]
    body = [line for line in lines if line.startswith("| ") and not line.startswith("| section")]
    assert len(body) == len(rows)
    assert body[0].endswith("| >= 10x | yes |")
    assert "\\|" in body[1] and body[1].endswith("| **no** |")
    assert "not measured: no checkpoint" in body[2] and body[2].endswith("| - |")
    assert all(line.count(" | ") == 6 for line in body[:1] + body[2:])


@pytest.mark.slow
def test_quick_run_of_two_sections_writes_the_table(
    tmp_path: Path,
    settings: object,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # shorter clips and smaller queues than --quick's: the same code, a third of the CPU
    sizes = dataclasses.replace(QUICK, clip_seconds=4.0, queue_videos=(500, 2_000))
    monkeypatch.setattr(bench, "QUICK", sizes)
    out = tmp_path / "bench.md"
    code = bench.main(
        [
            "--quick",
            "--only",
            "keyframes,queue",
            "--out",
            str(out),
            "--work-dir",
            str(tmp_path / "work"),
        ]
    )
    table = out.read_text(encoding="utf-8")
    assert code == 0, table
    assert table in capsys.readouterr().out
    assert "failed:" not in table
    keyframes = [line for line in table.splitlines() if line.startswith("| keyframes")]
    queue = [line for line in table.splitlines() if line.startswith("| queue")]
    assert len(keyframes) == 4 and all(
        "decode every frame" in line and "x faster" in line for line in keyframes
    )
    real = [line for line in keyframes if "bigbuckbunny looped to 4 s" in line]
    assert len(real) == 2 and "GOP 48" in real[0] and "GOP 250" in real[1]
    assert all("4 s 1280x720 25 fps h264" in line and "CPU" in line for line in keyframes)
    assert (
        len(list((tmp_path / "work").glob("bigbuckbunny-*.mp4"))) == 2
    )  # built once, kept for later runs
    assert len(queue) == len(sizes.queue_videos) + 1
    assert "2,000 videos" in queue[-2] and "4x videos" in queue[-2]


@pytest.mark.slow
def test_keyframe_clips_loop_real_footage_at_its_frame_rate_and_are_built_once(
    tmp_path: Path, bigbuckbunny: Path
) -> None:
    clips = keyframe_clips(tmp_path, 2.0, np.zeros(16_000, np.float32), gops=(20,))
    assert list(clips) == ["generated, GOP 20", "bigbuckbunny looped to 2 s, GOP 20"]
    real = clips["bigbuckbunny looped to 2 s, GOP 20"]
    info, source = probe(real), probe(bigbuckbunny)
    assert (info.width, info.height, info.fps) == (source.width, source.height, source.fps)
    assert info.duration_s == pytest.approx(2.0, abs=0.1) and info.has_audio
    with av.open(str(real)) as container:
        keys = [p.is_keyframe for p in container.demux(video=0) if p.size]
    assert len(keys) == 50 and [i for i, key in enumerate(keys) if key] == [0, 20, 40]
    built = {label: path.stat().st_mtime_ns for label, path in clips.items()}
    again = keyframe_clips(tmp_path, 2.0, np.zeros(16_000, np.float32), gops=(20,))
    assert {label: path.stat().st_mtime_ns for label, path in again.items()} == built
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in clips.values())
