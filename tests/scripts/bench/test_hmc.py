from pathlib import Path

import numpy as np
import pytest

from scripts.bench import hmc as hmc_bench

REAL_DATA = Path(__file__).resolve().parents[4] / "shared" / "benchmarks" / "hmc"

HEADER = """@RELATION toy
@ATTRIBUTE a numeric
@ATTRIBUTE b {x,y}
@ATTRIBUTE class hierarchical 1,1/1,2
@DATA
"""


def _write_set(directory: Path, name: str, splits: dict[str, str]) -> None:
    for split, rows in splits.items():
        (directory / f"{name}.{split}.arff").write_text(HEADER + rows)


def test_load_split_follows_protocol(tmp_path):
    _write_set(
        tmp_path,
        "toy_FUN",
        {"train": "1,x,1/1\n3,y,2\n", "valid": "?,x,1\n", "test": "100,y,2\n?,?,1/1\n"},
    )
    split = hmc_bench.load_split(tmp_path, "toy_FUN")
    assert split.X_train.shape == (3, 3)  # train + valid, nominal one-hot
    # mean-imputed then standardised with training statistics only (test's 100 does not leak)
    np.testing.assert_allclose(
        split.X_train[:, 0], np.array([-1.0, 1.0, 0.0]) / np.std([1, 3, 2]), rtol=1e-5
    )
    assert split.X_test[0, 0] == pytest.approx((100 - 2) / np.std([1, 3, 2]), rel=1e-5)
    assert split.X_test[1, 0] == pytest.approx(0.0)
    assert split.hierarchy.n_nodes == 4 and len(split.scored_nodes) == 3  # root not scored


def test_available_datasets_and_table(tmp_path):
    _write_set(tmp_path, "a_others", {"train": "", "test": ""})
    (tmp_path / "b_others.train.arff").write_text(HEADER)
    assert hmc_bench.available_datasets(tmp_path) == ["a_others"]
    table = hmc_bench.format_table(
        {
            "eisen_FUN": {
                "au_prc": 0.31,
                "seconds": 12.0,
                "wall_seconds": 20.0,
                "settings": {},
                "settings_tried": 3,
                "win_rate": None,
            },
            "derisi_GO": {
                "au_prc": 0.37,
                "seconds": 170.0,
                "wall_seconds": 171.0,
                "settings": {},
                "settings_tried": 2,
                "win_rate": 0.5,
                "second_round": True,
            },
            "spo_FUN": {
                "au_prc": 0.2,
                "seconds": 9.0,
                "wall_seconds": 9.5,
                "settings": {"mlp_width": 250, "dropout": 0.7},
                "settings_tried": 3,
                "win_rate": 0.97,
                "second_round": False,
            },
        }
    )
    assert "| eisen_FUN | 0.310 | 0.306 | +0.004 | 12 | 20 | defaults |" in table
    assert (
        "| derisi_GO | 0.370 | 0.370 | +0.000 | 170 | 171 | defaults (best alternative won 50% of"
        " resamples; decided on two slices); 1 wider alternative(s) not tried: label matrix too"
        " large |"
    ) in table
    assert (
        "| spo_FUN | 0.200 | 0.215 | -0.015 | 9 | 10 | mlp_width=250, dropout=0.7"
        " (best alternative won 97% of resamples) |"
    ) in table


def test_table_compares_extra_sets_and_says_when_unpublished():
    row = {"seconds": 300.0, "wall_seconds": 310.0, "settings": {}, "settings_tried": 2}
    table = hmc_bench.format_table(
        {"seq_GO": {**row, "au_prc": 0.45, "win_rate": None}, "pheno_GO": {**row, "au_prc": 0.2}}
    )
    assert "| seq_GO | 0.450 | 0.446 | +0.004 | 300 | 310 |" in table
    assert "| pheno_GO | 0.200 | n/a | n/a | 300 | 310 |" in table


def test_unknown_dataset_is_reported(tmp_path):
    with pytest.raises(ValueError, match="no train/test ARFF"):
        hmc_bench.run_benchmark(tmp_path, tmp_path / "out.json", ["nope"])


@pytest.mark.slow
@pytest.mark.skipif(not REAL_DATA.exists(), reason=f"benchmark data not found at {REAL_DATA}")
def test_real_set_reaches_published_score(tmp_path):
    # the smallest real set to fit (about 2.3 times faster than eisen_FUN, measured side by side)
    name = "Enron_others"
    result = hmc_bench.run_dataset(REAL_DATA, name)
    assert result.au_prc >= hmc_bench.PUBLISHED_AUPRC[name] - 0.01


def _toy_rows(n: int, seed: int) -> str:
    """Rows whose label follows feature a: 1/1 when a > 0, else 2 (a hierarchy of 4 nodes)."""
    rng = np.random.default_rng(seed)
    return "".join(
        f"{a:.3f},{'xy'[i % 2]},{'1/1' if a > 0 else '2'}\n"
        for i, a in enumerate(rng.normal(size=n))
    )


def test_run_dataset_scores_every_ensemble_size_and_times_each_training(tmp_path):
    _write_set(tmp_path, "toy_FUN", {"train": _toy_rows(80, 0), "test": _toy_rows(40, 1)})
    small = {"mlp_width": 16, "max_epochs": 4, "patience": 2, "n_ensemble": 3}
    result = hmc_bench.run_dataset(tmp_path, "toy_FUN", alternatives=({"mlp_width": 8},), **small)
    assert len(result.prefix_au_prc) == 3 and result.prefix_au_prc[-1] == result.au_prc
    # two first members compete, then the winner trains its other members (or a second round)
    choice = 2 + (2 if result.second_round else 0)
    assert (
        len(result.training_cpu_seconds)
        == len(result.curves)
        == choice + result.members_after_choice
    )
    assert all(1 <= len(curve) <= 4 for curve in result.curves)
    assert sum(result.training_cpu_seconds) <= result.cpu_seconds
    assert result.cpu_seconds_with_members(3) == pytest.approx(result.cpu_seconds)
    assert result.cpu_seconds_with_members(1 if result.second_round else 0) is None
    capped = hmc_bench.run_dataset(
        tmp_path,
        "toy_FUN",
        alternatives=({"mlp_width": 8},),
        alternatives_max_cells=0,
        large_ensemble=2,
        **small,
    )
    assert capped.prefix_au_prc == result.prefix_au_prc[:2]


def test_cpu_seconds_with_fewer_members_leave_out_the_last_trainings():
    result = hmc_bench.BenchmarkResult(
        "x",
        0.5,
        100.0,
        100.0,
        {},
        2,
        None,
        False,
        prefix_au_prc=(0.3, 0.4, 0.5),
        training_cpu_seconds=(20.0, 30.0, 15.0, 25.0),
        members_after_choice=2,
    )
    assert [result.cpu_seconds_with_members(k) for k in (1, 2, 3)] == [60.0, 75.0, 100.0]
    assert result.cpu_seconds_with_members(0) is None  # the choice trained the first member
