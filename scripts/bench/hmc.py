"""HMC benchmark: the default ``HierarchicalClassifier`` on the C-HMCNN ARFF sets.

Protocol (data README): train on train+valid for FUN/GO and on train for the others; nominal
features one-hot, mean-imputed and standardised on the training data; score = micro average
precision over every class but the roots on hierarchy-consistent probabilities. One
configuration (the estimator's defaults) for every set; early stopping only ever sees slices of
the training data, never test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from core.classifier.estimator import DEFAULT_ALTERNATIVES, HierarchicalClassifier
from core.classifier.hierarchy import Hierarchy
from core.classifier.metrics import micro_auprc
from scripts.bench.arff import ArffData, load_arff

# C-HMCNN, mean of 10 seeds (Giunchiglia & Lukasiewicz 2020, Table 1; data README)
PUBLISHED_AUPRC = {
    "cellcycle_FUN": 0.255,
    "derisi_FUN": 0.195,
    "eisen_FUN": 0.306,
    "gasch2_FUN": 0.258,
    "spo_FUN": 0.215,
    "cellcycle_GO": 0.413,
    "derisi_GO": 0.370,
    "eisen_GO": 0.455,
    "Diatoms_others": 0.758,
    "Enron_others": 0.756,
    "Imclef07a_others": 0.956,
}
# the same table's sets outside shared/benchmarks/hmc (C-HMCNN repository: HMC_data, README);
# the ImageCLEF07D files there are ImCLEF07D_{Train,Test}.arff, to be linked as
# Imclef07d_others.{train,test}.arff. church and pheno have no published figure.
PUBLISHED_AUPRC_EXTRA = {
    "expr_FUN": 0.302,
    "gasch1_FUN": 0.286,
    "seq_FUN": 0.292,
    "expr_GO": 0.447,
    "gasch1_GO": 0.436,
    "gasch2_GO": 0.414,
    "seq_GO": 0.446,
    "spo_GO": 0.382,
    "Imclef07d_others": 0.927,
}
UNSCORED_ROOTS = frozenset({"root", "GO0003674", "GO0005575", "GO0008150"})
# one thread: these small networks gain little from a second one on a shared 2-core machine,
# and process CPU time (the budgeted quantity) only grows with thread contention
TORCH_THREADS = 1


@dataclass(frozen=True)
class BenchmarkSplit:
    """Preprocessed train/test matrices of one data set plus the nodes that are scored."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    hierarchy: Hierarchy
    scored_nodes: np.ndarray


@dataclass(frozen=True)
class BenchmarkResult:
    dataset: str
    au_prc: float
    cpu_seconds: float
    wall_seconds: float
    settings: dict  # the alternative the classifier chose in fit ({} = its defaults)
    settings_tried: int  # candidates that competed in fit, the defaults included
    win_rate: float | None  # bootstrap win rate of the best alternative over the defaults
    second_round: bool  # the lead was not convincing: a second validation slice decided
    # test AU(PRC) of the mean of the first k members, k = 1..n (the last one is ``au_prc``)
    prefix_au_prc: tuple[float, ...] = ()
    # CPU s of each network trained in fit, in order (the choice's, then the ensemble's);
    # the choice's scoring between trainings is counted in the training after it
    training_cpu_seconds: tuple[float, ...] = ()
    members_after_choice: int = 0  # the last trainings: members added once the choice was made
    curves: tuple[tuple[float, ...], ...] = ()  # validation AU(PRC) per epoch, per training

    def cpu_seconds_with_members(self, k: int) -> float | None:
        """CPU s of the same fit stopped after ``k`` members (``large_ensemble=k`` trains
        exactly those); None when the choice alone trained more than ``k``."""
        n = len(self.prefix_au_prc)
        dropped = n - k
        if not 0 <= dropped <= self.members_after_choice:
            return None
        return self.cpu_seconds - sum(
            self.training_cpu_seconds[len(self.training_cpu_seconds) - dropped :]
        )


def available_datasets(data_dir: str | Path) -> list[str]:
    """Names with both a ``.train.arff`` and a ``.test.arff`` file, sorted."""
    data_dir = Path(data_dir)
    names = {p.name.removesuffix(".train.arff") for p in data_dir.glob("*.train.arff")}
    return sorted(n for n in names if (data_dir / f"{n}.test.arff").exists())


def load_split(data_dir: str | Path, name: str) -> BenchmarkSplit:
    """Read and preprocess one data set following the published protocol."""
    data_dir = Path(data_dir)
    parts = [load_arff(data_dir / f"{name}.train.arff")]
    valid_path = data_dir / f"{name}.valid.arff"
    if valid_path.exists():
        parts.append(load_arff(valid_path))
    test = load_arff(data_dir / f"{name}.test.arff")
    for part in parts:
        _check_same_layout(part, test, name)
    X_train = np.concatenate([p.features for p in parts])
    Y_train = np.concatenate([p.labels for p in parts])
    imputer = SimpleImputer(strategy="mean").fit(X_train)
    scaler = StandardScaler().fit(imputer.transform(X_train))
    prepare = lambda X: scaler.transform(imputer.transform(X)).astype(np.float32)
    scored = np.array([t not in UNSCORED_ROOTS for t in test.terms])
    return BenchmarkSplit(
        prepare(X_train),
        Y_train,
        prepare(test.features),
        test.labels,
        test.hierarchy,
        np.flatnonzero(scored),
    )


def _check_same_layout(part: ArffData, test: ArffData, name: str) -> None:
    if part.terms != test.terms or part.feature_names != test.feature_names:
        raise ValueError(f"{name}: train/valid and test files disagree on features or hierarchy")


def run_dataset(
    data_dir: str | Path, name: str, *, random_state: int = 0, **params: object
) -> BenchmarkResult:
    """Load, fit the default classifier (``params`` override its settings, e.g.
    ``race_margin=None`` to compare), score on test; times cover all of it.

    Also scores the mean of every prefix of the members and times each training, so one fit
    tells what a smaller ensemble (``large_ensemble``) would score and cost."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    split = load_split(data_dir, name)
    trainings = _TrainingLog(time.process_time())
    clf = HierarchicalClassifier(random_state=random_state, **params)
    clf.fit(split.X_train, split.Y_train, hierarchy=split.hierarchy, progress=trainings.record)
    trainings.close()
    # the same float64 running sum as predict_proba, so the last prefix is its result exactly
    running = np.cumsum(clf.predict_member_proba(split.X_test), axis=0, dtype=np.float64)
    prefixes = running / np.arange(1, len(running) + 1)[:, None, None]
    violations = split.hierarchy.violations(prefixes[-1])
    if violations:
        raise RuntimeError(f"{name}: {violations} hierarchy violations in test probabilities")
    prefix_scores = tuple(
        micro_auprc(split.Y_test, proba, nodes=split.scored_nodes) for proba in prefixes
    )
    second_round = any("valid_ap_two_slices" in s for s in clf.settings_scores_)
    # the choice trains each candidate's first member, and a second one for two in a second round
    trained_for_choice = len(clf.settings_scores_) + (2 if second_round else 0)
    return BenchmarkResult(
        name,
        prefix_scores[-1],
        time.process_time() - cpu0,
        time.perf_counter() - wall0,
        clf.selected_settings_,
        len(clf.settings_scores_),
        clf.selection_win_rate_,
        second_round,
        prefix_scores,
        tuple(trainings.cpu_seconds),
        len(trainings.curves) - trained_for_choice,
        tuple(tuple(curve) for curve in trainings.curves),
    )


class _TrainingLog:
    """Progress callback: each training's validation curve and the CPU time it took."""

    def __init__(self, start: float) -> None:
        self._last = start  # process time at the last epoch seen
        self._started = start  # process time where the current training began
        self.curves: list[list[float]] = []
        self.cpu_seconds: list[float] = []

    def record(self, record: dict) -> None:
        now = time.process_time()
        if record["epoch"] == 0:
            if self.curves:
                self.cpu_seconds.append(self._last - self._started)
                self._started = self._last
            self.curves.append([])
        self.curves[-1].append(record["valid_ap"])
        self._last = now

    def close(self) -> None:
        if self.curves:
            self.cpu_seconds.append(self._last - self._started)


def run_benchmark(
    data_dir: str | Path, out_path: str | Path, datasets: Sequence[str] | None = None
) -> dict[str, dict[str, float]]:
    """Run every (or the named) data set; write and return
    ``{dataset: {"au_prc", "seconds", ...}}``.

    ``seconds`` is process CPU time (the machine is shared, so wall time is reported apart).
    """
    torch.set_num_threads(TORCH_THREADS)
    names = list(datasets) if datasets else available_datasets(data_dir)
    known = set(available_datasets(data_dir))
    missing = [n for n in names if n not in known]
    if missing:
        raise ValueError(f"no train/test ARFF for {missing} in {data_dir}; found {sorted(known)}")
    results: dict[str, dict[str, float]] = {}
    for name in names:
        r = run_dataset(data_dir, name)
        results[name] = {
            "au_prc": r.au_prc,
            "seconds": r.cpu_seconds,
            "wall_seconds": r.wall_seconds,
            "settings": r.settings,
            "settings_tried": r.settings_tried,
            "win_rate": r.win_rate,
            "second_round": r.second_round,
        }
        Path(out_path).write_text(json.dumps(results, indent=2))  # partial results survive a crash
    return results


def format_table(results: dict[str, dict[str, float]]) -> str:
    """Markdown table against the published C-HMCNN numbers."""
    lines = [
        "| dataset | ours AU(PRC) | C-HMCNN | diff | CPU s | wall s | settings chosen in fit |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        published = PUBLISHED_AUPRC.get(name, PUBLISHED_AUPRC_EXTRA.get(name))
        ref = f"{published:.3f}" if published is not None else "n/a"
        diff = f"{r['au_prc'] - published:+.3f}" if published is not None else "n/a"
        lines.append(
            f"| {name} | {r['au_prc']:.3f} | {ref} | {diff} | {r['seconds']:.0f} "
            f"| {r['wall_seconds']:.0f} | {_settings_label(r)} |"
        )
    return "\n".join(lines)


def _settings_label(result: dict) -> str:
    """The chosen settings, how convincingly the best alternative led, what was not tried."""
    label = ", ".join(f"{k}={v}" for k, v in result["settings"].items()) or "defaults"
    if result.get("win_rate") is not None:
        label += f" (best alternative won {result['win_rate']:.0%} of resamples"
        label += "; decided on two slices)" if result.get("second_round") else ")"
    untried = len(DEFAULT_ALTERNATIVES) + 1 - result.get("settings_tried", 1)
    if untried > 0:
        label += f"; {untried} wider alternative(s) not tried: label matrix too large"
    return label


def main(data_dir: str | Path, out: str | Path, datasets: Sequence[str] | None = None) -> None:
    """CLI entry (``tagger bench-hmc``): run, write JSON, print the comparison table."""
    print(format_table(run_benchmark(data_dir, out, datasets)))
