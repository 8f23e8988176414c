import argparse
import re
from pathlib import Path

import pytest

from core.classifier.estimator import DEFAULT_ALTERNATIVES
from scripts.bench import hmc_parallel
from scripts.bench.hmc import BenchmarkResult
from scripts.bench.hmc_parallel import Run

REAL_DATA = Path(__file__).resolve().parents[4] / "shared" / "benchmarks" / "hmc"


def test_runs_are_parsed_and_named_mistakes_refused(tmp_path):
    assert Run.parse("seq_GO:1:members3") == Run("seq_GO", 1, "members3")
    with pytest.raises(ValueError, match="SET:SEED:VARIANT"):
        Run.parse("seq_GO:one:baseline")
    (tmp_path / "a_GO.train.arff").write_text("")
    (tmp_path / "a_GO.test.arff").write_text("")
    args = lambda **kw: argparse.Namespace(
        **{"data": tmp_path, "runs": [], "sets": [], "seeds": [0], "variants": ["baseline"], **kw}
    )
    runs = hmc_parallel.plan(args(runs=["a_GO:2:members3"], sets=["a_GO"], seeds=[0, 1]))
    assert runs == [
        Run("a_GO", 2, "members3"),
        Run("a_GO", 0, "baseline"),
        Run("a_GO", 1, "baseline"),
    ]
    with pytest.raises(ValueError, match="unknown variant"):
        hmc_parallel.plan(args(sets=["a_GO"], variants=["fast"]))
    with pytest.raises(ValueError, match=r"no train/test ARFF for \['b_GO'\]"):
        hmc_parallel.plan(args(sets=["b_GO"]))
    with pytest.raises(ValueError, match="nothing to run"):
        hmc_parallel.plan(args())


def test_row_names_the_choice_and_every_ensemble_size():
    result = BenchmarkResult(
        "spo_GO",
        0.3805,
        354.4,
        360.0,
        dict(DEFAULT_ALTERNATIVES[0]),
        2,
        0.95,
        False,
        prefix_au_prc=(0.37, 0.376, 0.379, 0.3801, 0.3805),
        training_cpu_seconds=(34.0, 64.0, 64.0, 64.0, 64.0, 64.0),
        members_after_choice=4,
    )
    row = hmc_parallel.format_row(Run("spo_GO", 0, "baseline"), result)
    assert row.startswith(
        "| spo_GO | 0 | baseline | 0.3805 | 0.382 | -0.0015 | 354 | 360 | narrow |"
    )
    assert "1: 0.3700/98 · 2: 0.3760/162 · 3: 0.3790/226 · 4: 0.3801/290 · 5: 0.3805/354" in row
    assert hmc_parallel.candidate_name({}) == "defaults"
    assert hmc_parallel.candidate_name({"lr": 0.1}) == "lr=0.1"


def test_machine_speed_is_the_reference_step_or_says_why_not(tmp_path):
    assert hmc_parallel.machine_speed(tmp_path, "before the fits") == (
        f"machine speed before the fits: not measured (cellcycle_GO is not in {tmp_path})"
    )


@pytest.mark.slow
@pytest.mark.skipif(not REAL_DATA.exists(), reason=f"benchmark data not found at {REAL_DATA}")
def test_machine_speed_times_a_training_step_on_a_go_dag():
    line = hmc_parallel.machine_speed(REAL_DATA, "after them")
    ms = float(
        re.fullmatch(
            r"machine speed after them: a training step on cellcycle_GO "
            r"\(batch 64, width 250, 1 thread\) takes (\d+\.\d) CPU ms",
            line,
        )[1]
    )
    assert 1 < ms < 1000  # milliseconds, not seconds or microseconds
