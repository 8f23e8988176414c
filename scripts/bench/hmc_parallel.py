"""HMC fits side by side on a many-core machine: SET x SEED x VARIANT, one process per fit.

Each fit runs ``scripts.bench.hmc.run_dataset`` in its own process with one torch thread, so its
process CPU time is the quantity budgeted in issue 18 (<= 300 CPU s per set at one thread). A row
is printed as each fit ends, and the whole table again, sorted, at the end; ``--out`` gets one
JSON line per fit (with every training's validation curve, for replaying stop rules offline).

Every row also gives what the fit's first k members score on test and would have cost, k = 1..n:
``large_ensemble=k`` trains exactly those members (same choice, splits and seeds), so a baseline
fit answers for every ensemble size; a ``membersK`` row checks that answer directly.

    python3 -m scripts.bench.hmc_parallel --data .hmc --jobs 16 \\
        --runs seq_GO:1:baseline spo_GO:0:members3 ...
    python3 -m scripts.bench.hmc_parallel --data .hmc --jobs 2 \\
        --sets seq_GO spo_GO --seeds 0 1 --variants baseline members3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from core.classifier.estimator import DEFAULT_ALTERNATIVES
from scripts.bench.hmc import (
    PUBLISHED_AUPRC,
    PUBLISHED_AUPRC_EXTRA,
    TORCH_THREADS,
    BenchmarkResult,
    available_datasets,
    load_split,
    run_dataset,
)
from scripts.bench.training_step import SPEED_SET, step_ms

# what each variant changes in the default classifier
VARIANTS: dict[str, dict] = {
    "baseline": {},
    "members2": {"large_ensemble": 2},  # the choice of settings and one more member
    "members3": {"large_ensemble": 3},
    "members4": {"large_ensemble": 4},
    "race_off": {"race_margin": None},
}
_CANDIDATE_NAMES = {"narrow": DEFAULT_ALTERNATIVES[0], "wide": DEFAULT_ALTERNATIVES[1]}


@dataclass(frozen=True)
class Run:
    """One fit to make: a data set, a seed and a variant of the classifier."""

    dataset: str
    seed: int
    variant: str

    @classmethod
    def parse(cls, text: str) -> Run:
        """``SET:SEED:VARIANT``, e.g. ``seq_GO:1:members3``."""
        parts = text.split(":")
        if len(parts) != 3 or not parts[1].isdigit():
            raise ValueError(f"a run is SET:SEED:VARIANT, e.g. seq_GO:1:baseline; got {text!r}")
        return cls(parts[0], int(parts[1]), parts[2])


def _one_thread() -> None:
    """Worker start: one intra-op and one inter-op thread, as in the budget's measurements."""
    torch.set_num_threads(TORCH_THREADS)
    torch.set_num_interop_threads(1)


def _fit(data_dir: str, run: Run) -> BenchmarkResult:
    return run_dataset(data_dir, run.dataset, random_state=run.seed, **VARIANTS[run.variant])


def candidate_name(settings: dict) -> str:
    """defaults / narrow / wide (the default alternatives), else the settings themselves."""
    if not settings:
        return "defaults"
    for name, alternative in _CANDIDATE_NAMES.items():
        if settings == alternative:
            return name
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def format_row(run: Run, result: BenchmarkResult) -> str:
    """One table row: the score against C-HMCNN, the cost, the choice, every ensemble size."""
    published = PUBLISHED_AUPRC.get(run.dataset, PUBLISHED_AUPRC_EXTRA.get(run.dataset))
    ref = f"{published:.3f}" if published is not None else "n/a"
    diff = f"{result.au_prc - published:+.4f}" if published is not None else "n/a"
    chosen = candidate_name(result.settings) + (" (two slices)" if result.second_round else "")
    by_size = []
    for k, score in enumerate(result.prefix_au_prc, start=1):
        cpu = result.cpu_seconds_with_members(k)
        by_size.append(f"{k}: {score:.4f}/{cpu:.0f}" if cpu is not None else f"{k}: {score:.4f}/-")
    return (
        f"| {run.dataset} | {run.seed} | {run.variant} | {result.au_prc:.4f} | {ref} | {diff} "
        f"| {result.cpu_seconds:.0f} | {result.wall_seconds:.0f} | {chosen} "
        f"| {' · '.join(by_size)} |"
    )


HEADER = (
    "| set | seed | variant | AU(PRC) | C-HMCNN | diff | CPU s | wall s | chosen in fit "
    "| first k members: AU(PRC)/CPU s |\n|---|---:|---|---:|---:|---:|---:|---:|---|---|"
)


def run_all(data_dir: str, runs: list[Run], jobs: int, out: Path | None) -> int:
    """Fit every run in a pool of ``jobs`` processes; print rows; return how many failed."""
    # BLAS/OpenMP pools are sized when a worker imports torch: one thread each, inherited
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    done: list[tuple[Run, BenchmarkResult]] = []
    failed = 0
    start = time.perf_counter()
    print(HEADER, flush=True)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_one_thread) as pool:
        futures: dict[Future, Run] = {pool.submit(_fit, data_dir, run): run for run in runs}
        for future in as_completed(futures):
            run = futures[future]
            error = future.exception()
            if error is not None:
                failed += 1
                print(f"| {run.dataset} | {run.seed} | {run.variant} | FAILED: {error!r} |")
                continue
            result = future.result()
            done.append((run, result))
            print(format_row(run, result), f"(at {time.perf_counter() - start:.0f} s)", flush=True)
            if out is not None:
                with out.open("a") as f:
                    f.write(json.dumps({**asdict(run), **asdict(result)}) + "\n")
    print(f"\nAll {len(runs)} runs, {failed} failed, {time.perf_counter() - start:.0f} s wall:")
    print(HEADER)
    for run, result in sorted(done, key=lambda d: (d[0].dataset, d[0].seed, d[0].variant)):
        print(format_row(run, result))
    return failed


def plan(args: argparse.Namespace) -> list[Run]:
    """The runs named by ``--runs``, then ``--sets x --seeds x --variants``; checked upfront."""
    runs = [Run.parse(text) for text in args.runs]
    runs += [
        Run(name, seed, variant)
        for name in args.sets
        for seed in args.seeds
        for variant in args.variants
    ]
    if not runs:
        raise ValueError("nothing to run: give --runs, or --sets with --seeds and --variants")
    unknown = sorted({r.variant for r in runs} - VARIANTS.keys())
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; known: {sorted(VARIANTS)}")
    known = set(available_datasets(args.data))
    missing = sorted({r.dataset for r in runs} - known)
    if missing:
        raise ValueError(f"no train/test ARFF for {missing} in {args.data}; found {sorted(known)}")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder of SET.{train,valid,test}.arff")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="processes at once")
    parser.add_argument("--runs", nargs="*", default=[], help="SET:SEED:VARIANT, in this order")
    parser.add_argument("--sets", nargs="*", default=[])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--variants", nargs="*", default=["baseline"], help=f"{sorted(VARIANTS)}")
    parser.add_argument("--out", type=Path, help="append one JSON line per fit here")
    args = parser.parse_args(argv)
    try:
        runs = plan(args)
    except ValueError as e:
        parser.error(str(e))
    print(machine_speed(args.data, "before the fits"), flush=True)
    failed = run_all(str(args.data), runs, args.jobs, args.out)
    print(machine_speed(args.data, "after them"))
    return 1 if failed else 0


def machine_speed(data_dir: str | Path, when: str) -> str:
    """A line with the reference training step's CPU ms now (the machine's speed varies 2x
    between days), or why it is not measured."""
    if SPEED_SET not in available_datasets(data_dir):
        return f"machine speed {when}: not measured ({SPEED_SET} is not in {data_dir})"
    torch.set_num_threads(1)
    ms = step_ms(load_split(data_dir, SPEED_SET))
    return (
        f"machine speed {when}: a training step on {SPEED_SET} (batch 64, width 250, 1 thread) "
        f"takes {ms:.1f} CPU ms"
    )


if __name__ == "__main__":
    sys.exit(main())
