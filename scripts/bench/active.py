"""Does the review queue's order teach the model faster than random order? A simulation.

An oracle holds every true label. Each data set is split into an unlabelled pool and a test set;
5 % of the pool starts labelled (the same rows for every order). Each round the product's
classifier (``HierarchicalClassifier`` with the product's hyperparameters,
``core.lifecycle.training.default_classifier_params``) is retrained on the labelled rows, scored
on test (micro AU(PRC) over the scored nodes), and then the next 5 % of the pool is "reviewed"
in one order (core/ranking.py) until the label budget (``--budget``, a share of the pool) is
labelled. The question each order answers: how many labels does it need to reach the AU(PRC)
that random order has at the end of the budget ("random's final")? ``ratio`` = those labels /
the labels at the budget; the goal is <= 0.6 on every set. Both are read off the curves
averaged over seeds: an order reaches the target at its first round whose mean AU(PRC) is at
least random's mean final. Beside it, the order's score at 60 % of the budget minus random's
final, paired by seed (mean ± standard error): with the whole pool both finals are the same
model on each seed, so this says whether a shortfall is more than the seeds' spread.

Each round retrains with ``--retrain fast`` (the product's settings with one short-lived member:
cheap enough for many rounds) or ``--retrain product`` (exactly the product's retrain).

The default budget is the whole pool (1.0): issue 17 asks for "random order's final AU(PRC)
with at most 60 % of the labels", and with every label of the pool random's final is the score
of the model trained on all of it, so the claim is the standard one of active learning (the same
model with fewer labels). ``--budget 0.5`` asks the earlier, harder question: random's score at
half the pool, where its curve still climbs, with at most 30 % of the pool.

Data: HMC sets (scripts/bench/hmc.py's preprocessing; the pool is the training file(s)) and the
demo corpus (cached embeddings of a ``tagger demo`` database plus the corpus ground truth CSV).

Usage::

    python -m scripts.bench.active --hmc-dir /work/shared/benchmarks/hmc \
        --datasets Enron_others eisen_FUN derisi_FUN --demo-data data/demo \
        --budget 1.0 --png active.png --md active.md
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core import ranking
from core.classifier import HierarchicalClassifier, Hierarchy
from core.classifier.metrics import micro_auprc
from core.lifecycle.training import default_classifier_params
from scripts.bench.hmc import load_split

DEFAULT_HMC_SETS = ("Enron_others", "eisen_FUN", "derisi_FUN")
DEFAULT_STRATEGIES = ("random", "closest_call", "expected_errors", "diverse")
# these need the gradient embeddings
GRADIENT_STRATEGIES = ("badge", "gradient_length", "typical_then_badge")
# A reference, not a ranking the queue could use: it reads the oracle's labels of the unlabelled
# rows, which the product never has (:func:`true_loss_order`).
TRUE_LOSS = "true_loss"
START_FRACTION = 0.05
STEP_FRACTION = 0.05
# Rounds go on until the whole pool is labelled: issue 17 asks for "random order's final
# AU(PRC) with at most 60 % of the labels", read as every label of the pool (the standard
# active-learning claim: the same model with fewer labels). 0.5 was the budget until 2026-12-04.
BUDGET_FRACTION = 1.0
GOAL_RATIO = 0.6
DEMO_TEST_FRACTION = 0.4
# Fewer, shorter-lived members than a product retrain: ~80 fits per data set must fit a few
# CPU minutes; every order gets the same settings, so the comparison stays fair.
FAST_PARAMS = {"n_ensemble": 1, "max_epochs": 40, "patience": 5}
# "product": each round retrains exactly as the product does (issue 17's protocol; ~4x the CPU
# of one fast member: 545 against 139 CPU s on Imclef07a, 3 seeds, random and badge, 12-05)
RETRAIN_SETTINGS = ("fast", "product")
# HMC pools and test sets are subsampled (seeded) to this many rows: the question is the order,
# and a 2-core machine shared by a team cannot afford full-size sets for every round
MAX_POOL = 800
MAX_TEST = 800
TORCH_THREADS = 1


@dataclass(frozen=True)
class Pool:
    """One data set as the simulation sees it: inputs, oracle labels, and a test set."""

    name: str
    X_pool: np.ndarray | dict[str, np.ndarray]
    Y_pool: np.ndarray
    X_test: np.ndarray | dict[str, np.ndarray]
    Y_test: np.ndarray
    hierarchy: Hierarchy
    scored_nodes: np.ndarray
    embeddings: np.ndarray  # (n_pool, d) for the diversity ranking

    @property
    def n_pool(self) -> int:
        return len(self.Y_pool)


@dataclass
class Curve:
    """Test micro AU(PRC) after each round of one order on one data set (mean over seeds)."""

    dataset: str
    strategy: str
    n_labels: list[int] = field(default_factory=list)
    auprc: list[float] = field(default_factory=list)
    # each seed's curve (``mean_curve``), for gaps paired by seed; empty for a single run
    auprc_by_seed: list[list[float]] = field(default_factory=list)
    # typical_then_badge: the rounds whose batch coverage chose, by seed (ranking.covers_first)
    coverage_rounds: list[int] = field(default_factory=list)


def _rows(X: np.ndarray | dict[str, np.ndarray], index: np.ndarray):
    if isinstance(X, dict):
        return {m: x[index] for m, x in X.items()}
    return X[index]


def hmc_pool(
    data_dir: str | Path, name: str, *, max_pool: int = MAX_POOL, max_test: int = MAX_TEST
) -> Pool:
    """An HMC set: (a seeded sample of) the training file(s) is the pool, the test file the
    test set."""
    split = load_split(data_dir, name)
    rng = np.random.default_rng(0)
    pool = np.sort(rng.permutation(len(split.Y_train))[:max_pool])
    test = np.sort(rng.permutation(len(split.Y_test))[:max_test])
    return Pool(
        name,
        split.X_train[pool],
        split.Y_train[pool],
        split.X_test[test],
        split.Y_test[test],
        split.hierarchy,
        split.scored_nodes,
        split.X_train[pool],
    )


def demo_pool(data_dir: str | Path, *, seed: int = 0) -> Pool:
    """The demo corpus: cached embeddings from its database, true tags from its ground truth CSV
    (the import held 30 % of them back; the oracle knows them all)."""
    from core.config import Settings
    from core.dataset import TAG_SEPARATOR
    from core.encoders import MODALITIES
    from core.taxonomy import load_from_db
    from db.queries import embeddings as embeddings_q
    from db.queries import videos as videos_q
    from scripts.bench.common import open_database
    from scripts.demo.command import CORPUS_DIR
    from scripts.demo.corpus import CSV_NAME

    settings = Settings(data_dir=Path(data_dir))
    truth_csv = Path(data_dir) / CORPUS_DIR / CSV_NAME
    if not truth_csv.exists():
        raise FileNotFoundError(f"no demo ground truth at {truth_csv}; run `tagger demo` first")
    with truth_csv.open(encoding="utf-8", newline="") as handle:
        truth = {
            row["video_id"]: row["tags"].split(TAG_SEPARATOR) for row in csv.DictReader(handle)
        }
    db = open_database(settings, taxonomy=False)  # a demo made by an older version: upgraded
    with db.session() as session:
        taxonomy = load_from_db(session)
        videos = videos_q.find_videos_by_external_ids(session, external_ids=list(truth))
        versions = embeddings_q.encoder_versions(session, encoder_id=settings.encoder)
        if not versions:
            raise ValueError(f"the demo database in {data_dir} has no {settings.encoder} vectors")
        matrices = embeddings_q.load_matrices(
            session,
            encoder_id=settings.encoder,
            encoder_version=versions[0][0],
            modalities=MODALITIES,
            video_ids=[v.id for v in videos.values()],
        )
    external = {v.id: ext for ext, v in videos.items()}
    full = Hierarchy(taxonomy.parents_index())
    Y_all = np.zeros((len(matrices.video_ids), len(taxonomy)), dtype=bool)
    for i, video_id in enumerate(matrices.video_ids.tolist()):
        for path in truth[external[video_id]]:
            Y_all[i, taxonomy.index(taxonomy.resolve(path).id)] = True
    Y_all = full.close_upward(Y_all)
    space = np.flatnonzero(Y_all.any(axis=0))
    column = {int(node): i for i, node in enumerate(space)}
    hierarchy = Hierarchy([[column[p] for p in full.parents[node]] for node in space.tolist()])
    Y_all = Y_all[:, space]
    X_all = {
        m: np.where(matrices.masks[m][:, None], matrices.matrices[m], np.nan).astype(np.float32)
        for m in matrices.matrices
    }
    joint = ranking.joint_embedding(X_all)
    order = np.random.default_rng(seed).permutation(len(Y_all))
    n_test = round(DEMO_TEST_FRACTION * len(order))
    test, pool = np.sort(order[:n_test]), np.sort(order[n_test:])  # video-id order, see _fit
    return Pool(
        "demo corpus",
        _rows(X_all, pool),
        Y_all[pool],
        _rows(X_all, test),
        Y_all[test],
        hierarchy,
        np.arange(len(space)),
        joint[pool],
    )


def retrain_params(n_labelled: int, retrain: str = "fast", members: int = 1) -> dict:
    """A round's classifier settings: the product's own for ``n_labelled`` labels (``retrain``
    "product": what the product's retrain uses, ensemble size included) or the same with
    ``FAST_PARAMS`` and ``members`` networks ("fast": cheap enough for many rounds)."""
    if retrain not in RETRAIN_SETTINGS:
        raise ValueError(f"retrain must be one of {', '.join(RETRAIN_SETTINGS)}, not {retrain!r}")
    params = default_classifier_params(n_labelled)
    if retrain == "product":
        return params
    return {**params, **FAST_PARAMS, "n_ensemble": members}


def _fit(
    pool: Pool, labelled: np.ndarray, seed: int, retrain: str = "fast", members: int = 1
) -> HierarchicalClassifier:
    """The product's retraining on the labelled rows, given in pool order as the product gives
    its training set in video-id order (``load_matrices``): the classifier's held-out slices
    depend on the rows' order, so the same labels must train the same model whatever order they
    were reviewed in."""
    rows = np.sort(labelled)
    params = {**retrain_params(len(labelled), retrain, members), "random_state": seed}
    return HierarchicalClassifier(**params).fit(
        _rows(pool.X_pool, rows), pool.Y_pool[rows], hierarchy=pool.hierarchy
    )


def _test_auprc(pool: Pool, clf: HierarchicalClassifier) -> float:
    return micro_auprc(pool.Y_test, clf.predict_proba(pool.X_test), nodes=pool.scored_nodes)


def check_budget(budget: float) -> float:
    """``budget`` if it is a share of the pool above the labelled start and at most all of it."""
    if not START_FRACTION < budget <= 1.0:
        raise ValueError(
            f"the label budget must be a share of the pool above the {START_FRACTION:.0%} "
            f"start and at most 1 (all of it), not {budget}"
        )
    return budget


def check_step(step: float) -> float:
    """``step`` if it is a share of the pool above 0 and at most all of it."""
    if not 0 < step <= 1.0:
        raise ValueError(f"a round's share of the pool must be above 0 and at most 1, not {step}")
    return step


def _share_argument(check: Callable[[float], float]) -> Callable[[str], float]:
    """An argparse type that reads a share of the pool and refuses it in ``check``'s words."""

    def parse(text: str) -> float:
        try:
            return check(float(text))
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from e

    return parse


def schedule(
    n_pool: int, budget: float = BUDGET_FRACTION, step: float = STEP_FRACTION
) -> list[int]:
    """Labelled counts after each round: 5 % of the pool, then +``step`` (a share of the pool:
    the labels reviewed between two retrains) a round up to ``budget`` (a share of the pool), the
    last round capped at the whole pool. Rounds that the cap would leave empty are dropped, so
    every round reviews at least one row."""
    check_budget(budget)
    check_step(step)
    start = max(2, round(START_FRACTION * n_pool))
    rows_a_round = max(1, round(step * n_pool))
    rounds = round((budget - START_FRACTION) / step)
    counts = sorted({min(n_pool, start + i * rows_a_round) for i in range(rounds + 1)})
    target = min(n_pool, round(budget * n_pool))
    if counts[-1] < target:  # rounded steps fell short (1,587 rows: 79 a round end at 1,580)
        counts.append(target)
    return counts


def simulate(
    pool: Pool,
    strategy: str,
    *,
    seed: int = 0,
    retrain: str = "fast",
    members: int = 1,
    budget: float = BUDGET_FRACTION,
    step: float = STEP_FRACTION,
    labels_per_tag: float = ranking.TYPICAL_LABELS_PER_TAG,
    min_agreement: float = ranking.MIN_NEIGHBOUR_AGREEMENT,
) -> Curve:
    """One order on one data set: retrain (``retrain_params``), score on test, review the next
    batch, repeat until ``budget`` (a share of the pool) is labelled. ``typical_then_badge``
    decides each round as the review queue does (:func:`core.ranking.covers_first`)."""
    rng = np.random.default_rng(seed)
    counts = schedule(pool.n_pool, budget, step)
    labelled = rng.permutation(pool.n_pool)[: counts[0]]  # same start for every strategy
    curve = Curve(pool.name, strategy, coverage_rounds=[0])
    for round_no, count in enumerate(counts):
        clf = _fit(pool, labelled, seed, retrain, members)
        curve.n_labels.append(len(labelled))
        curve.auprc.append(_test_auprc(pool, clf))
        if round_no + 1 == len(counts):
            break
        unlabelled = np.setdiff1d(np.arange(pool.n_pool), labelled)
        member_proba = clf.predict_member_proba(_rows(pool.X_pool, unlabelled))
        gradients = (
            clf.predict_gradient_embedding(_rows(pool.X_pool, unlabelled))
            if strategy in GRADIENT_STRATEGIES
            else None
        )
        order = strategy
        if strategy == "typical_then_badge":
            cover, _ = ranking.covers_first(
                pool.embeddings[labelled],
                pool.Y_pool[labelled],
                pool.Y_pool.shape[1],
                labels_per_tag=labels_per_tag,
                min_agreement=min_agreement,
            )
            order = "typical" if cover else "badge"
            curve.coverage_rounds[0] += cover
        batch_size, proba = counts[round_no + 1] - count, member_proba.mean(axis=0)
        if strategy == TRUE_LOSS:
            picked = true_loss_order(proba, pool.Y_pool[unlabelled])[:batch_size]
        else:
            picked = ranking.select(
                order,
                batch_size,
                proba=proba,
                thresholds=clf.thresholds_,
                embeddings=pool.embeddings[unlabelled],
                labelled=pool.embeddings[labelled],
                rng=rng,
                member_proba=member_proba,
                gradients=gradients,
                labels_per_tag=labels_per_tag,
            )
        labelled = np.concatenate([labelled, unlabelled[picked]])
    return curve


def true_loss_order(proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rows by the model's binary cross-entropy against their true labels, largest first: the
    rows it is most wrong about, known only to the oracle. Where even this order cannot reach the
    target with 60 % of the labels, a queue ranked on the model's own doubts is not likely to."""
    p = np.clip(proba, 1e-7, 1 - 1e-7)
    loss = -(labels * np.log(p) + (1 - labels) * np.log1p(-p)).sum(axis=1)
    return np.argsort(-loss, kind="stable")


def mean_curve(curves: Sequence[Curve]) -> Curve:
    """Average of the same order's curves over seeds (same schedule)."""
    first = curves[0]
    return Curve(
        first.dataset,
        first.strategy,
        list(first.n_labels),
        [float(v) for v in np.mean([c.auprc for c in curves], axis=0)],
        [list(c.auprc) for c in curves],
        [rounds for c in curves for rounds in c.coverage_rounds],
    )


def labels_to_reach(curve: Curve, target: float) -> int | None:
    """The first measured label count whose AU(PRC) is at least ``target`` (None: never)."""
    for count, score in zip(curve.n_labels, curve.auprc):
        if score >= target:
            return count
    return None


def score_at(curve: Curve, labels: float) -> tuple[int, float]:
    """The last measured round with at most ``labels`` labels: (its label count, AU(PRC))."""
    rounds = [i for i, count in enumerate(curve.n_labels) if count <= labels]
    if not rounds:
        raise ValueError(f"no round of {curve.strategy} has at most {labels} labels")
    return curve.n_labels[rounds[-1]], curve.auprc[rounds[-1]]


def paired_gap(curve: Curve, baseline: Curve, round_no: int) -> tuple[float, float] | None:
    """Mean and standard error over seeds of ``curve``'s AU(PRC) at ``round_no`` minus
    ``baseline``'s final on the same seed (None with fewer than two seeds). With the whole pool
    both finals are the same model per seed, so pairing removes the seed's own luck from the
    question "is the order at that round as good as every label?"."""
    if len(curve.auprc_by_seed) < 2 or len(curve.auprc_by_seed) != len(baseline.auprc_by_seed):
        return None
    gaps = [
        run[round_no] - base[-1] for run, base in zip(curve.auprc_by_seed, baseline.auprc_by_seed)
    ]
    return float(np.mean(gaps)), float(np.std(gaps, ddof=1) / np.sqrt(len(gaps)))


def summary_rows(
    curves: Sequence[Curve], whole_pool: Mapping[str, Sequence[float]] | None = None
) -> list[dict]:
    """Per data set and order: final AU(PRC), labels to reach the target (both on the curves
    averaged over seeds), their share of the budget, the AU(PRC) at the goal's share, and there
    the gap to random's final paired by seed (``paired_gap``). The target is random's final, or
    the mean of a data set's ``whole_pool`` scores (``whole_pool_scores``) where given."""
    whole_pool = whole_pool or {}
    rows = []
    by_set: dict[str, list[Curve]] = {}
    for c in curves:
        by_set.setdefault(c.dataset, []).append(c)
    for dataset, group in by_set.items():
        baseline = next(c for c in group if c.strategy == "random")
        target, budget = baseline.auprc[-1], baseline.n_labels[-1]
        target_fits = len(whole_pool.get(dataset, ()))
        if target_fits:
            target = float(np.mean(whole_pool[dataset]))
        for c in group:
            reach = labels_to_reach(c, target)
            goal_labels, at_goal = score_at(c, GOAL_RATIO * budget)
            gap = paired_gap(c, baseline, c.n_labels.index(goal_labels))
            rows.append(
                {
                    "dataset": dataset,
                    "strategy": c.strategy,
                    "start": c.auprc[0],
                    "final": c.auprc[-1],
                    "target": target,
                    "target_fits": target_fits,
                    "budget": budget,
                    "labels_to_target": reach,
                    "ratio": None if reach is None else reach / budget,
                    "goal_labels": goal_labels,
                    "at_goal": at_goal,
                    "gap_at_goal": gap,
                }
            )
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """One row per data set and order. Random's final is random order's mean AU(PRC) at the
    budget (with ``--budget 1``: with every label of the pool)."""
    lines = [
        (
            "| data set | order | AU(PRC) at 5 % | at budget (labels) | target: random's final "
            "| labels to reach it | share of budget "
            f"| AU(PRC) at {GOAL_RATIO:.0%} of budget (labels) "
            "| there minus random's final, by seed (mean ± s.e.) "
            f"| goal <= {GOAL_RATIO:.0%} |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        reach = "not reached" if r["labels_to_target"] is None else str(r["labels_to_target"])
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.0%}"
        met = (
            "-"
            if r["strategy"] == "random"
            else ("yes" if r["ratio"] is not None and r["ratio"] <= GOAL_RATIO else "**no**")
        )
        target = f"{r['target']:.3f}" + (
            f" (every label, {r['target_fits']} fits)" if r["target_fits"] else ""
        )
        gap = "-" if r["gap_at_goal"] is None else "{:+.3f} ± {:.3f}".format(*r["gap_at_goal"])
        lines.append(
            f"| {r['dataset']} | {r['strategy']} | {r['start']:.3f} "
            f"| {r['final']:.3f} ({r['budget']}) | {target} | {reach} | {ratio} "
            f"| {r['at_goal']:.3f} ({r['goal_labels']}) | {gap} | {met} |"
        )
    return "\n".join(lines)


def format_curves(curves: Sequence[Curve]) -> str:
    """Every measured point, one table per data set (labels x orders)."""
    out = []
    by_set: dict[str, list[Curve]] = {}
    for c in curves:
        by_set.setdefault(c.dataset, []).append(c)
    for dataset, group in by_set.items():
        out.append(f"\n{dataset}\n")
        out.append("| labels | " + " | ".join(c.strategy for c in group) + " |")
        out.append("|---:|" + "---:|" * len(group))
        for i, count in enumerate(group[0].n_labels):
            out.append(f"| {count} | " + " | ".join(f"{c.auprc[i]:.3f}" for c in group) + " |")
    return "\n".join(out)


def run(
    pools: Sequence[Pool],
    strategies: Sequence[str],
    seeds: Sequence[int],
    log=print,
    *,
    retrain: str = "fast",
    members: int = 1,
    budget: float = BUDGET_FRACTION,
    step: float = STEP_FRACTION,
    labels_per_tag: float = ranking.TYPICAL_LABELS_PER_TAG,
    min_agreement: float = ranking.MIN_NEIGHBOUR_AGREEMENT,
) -> list[Curve]:
    torch.set_num_threads(TORCH_THREADS)
    curves = []
    for pool in pools:
        for strategy in strategies:
            started = time.process_time()
            runs = [
                simulate(
                    pool,
                    strategy,
                    seed=s,
                    retrain=retrain,
                    members=members,
                    budget=budget,
                    step=step,
                    labels_per_tag=labels_per_tag,
                    min_agreement=min_agreement,
                )
                for s in seeds
            ]
            curves.append(mean_curve(runs))
            covered = (
                f", coverage chose {curves[-1].coverage_rounds} of {len(runs[0].n_labels) - 1} "
                "batches (by seed)"
                if strategy == "typical_then_badge"
                else ""
            )
            log(
                f"{pool.name} {strategy}: final {curves[-1].auprc[-1]:.3f}{covered} "
                f"({time.process_time() - started:.0f} CPU s)"
            )
    return curves


def whole_pool_scores(
    pool: Pool, seeds: Sequence[int], *, retrain: str = "fast", members: int = 1
) -> list[float]:
    """Test AU(PRC) of the model trained on every label of the pool, once per training seed.
    Every order's last round is that model, so its score is the target; one fit per seed is
    noisy (0.82-0.84 on Imclef07a), and the mean of many fits estimates it better than the few
    seeds whose whole curves are affordable."""
    every_label = np.arange(pool.n_pool)
    return [_test_auprc(pool, _fit(pool, every_label, seed, retrain, members)) for seed in seeds]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hmc-dir", type=Path, default=Path("/work/shared/benchmarks/hmc"))
    parser.add_argument("--datasets", nargs="*", default=list(DEFAULT_HMC_SETS))
    parser.add_argument("--demo-data", type=Path, help="data dir of a `tagger demo` run")
    parser.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES))
    parser.add_argument("--seeds", type=int, default=1, help="repetitions averaged per order")
    parser.add_argument(
        "--retrain",
        choices=RETRAIN_SETTINGS,
        default="fast",
        help=(
            "each round's classifier: 'fast' (1 member by default, 40 epochs, patience 5) or "
            "'product' (exactly the product's retrain: 3 members up to 3,000 labels, patience 10)"
        ),
    )
    parser.add_argument(
        "--members",
        type=int,
        help="ensemble members of every order's fast classifier ('committee' needs >= 2)",
    )
    parser.add_argument(
        "--budget",
        type=_share_argument(check_budget),
        default=BUDGET_FRACTION,
        help=(
            "share of the pool the rounds go up to (default %(default)s: the whole pool, so "
            "random's final is the score with every label; 0.5 is the earlier, harder question)"
        ),
    )
    parser.add_argument(
        "--step",
        type=_share_argument(check_step),
        default=STEP_FRACTION,
        help=(
            "share of the pool reviewed between two retrains (default %(default)s; the product's "
            "'retrain after N new confirmed labels')"
        ),
    )
    parser.add_argument(
        "--max-pool",
        type=int,
        default=MAX_POOL,
        help="rows of an HMC set's training file(s) sampled into the pool (all when fewer)",
    )
    parser.add_argument(
        "--final-fits",
        type=int,
        default=0,
        help=(
            "also train the whole pool's model with this many seeds and use their mean score as "
            "the target (needs --budget 1; default 0: random's final over --seeds)"
        ),
    )
    parser.add_argument(
        "--typical-labels-per-tag",
        type=float,
        default=ranking.TYPICAL_LABELS_PER_TAG,
        help=(
            "typical_then_badge: labelled rows per tag of the label space below which it picks "
            "by coverage (default %(default)s)"
        ),
    )
    parser.add_argument(
        "--min-neighbour-agreement",
        type=float,
        default=ranking.MIN_NEIGHBOUR_AGREEMENT,
        help=(
            "typical_then_badge: BADGE from the start where the labelled rows' neighbours share "
            "their labels less than this beyond chance (default %(default)s, the queue's; 0: "
            "coverage by the label count alone)"
        ),
    )
    parser.add_argument("--png", type=Path, required=True, help="plot of AU(PRC) vs labels")
    parser.add_argument("--md", type=Path, help="markdown tables (also printed)")
    args = parser.parse_args(argv)
    if args.final_fits < 0 or args.final_fits == 1:
        raise SystemExit("--final-fits needs 2 or more fits (a mean and its spread), or 0")
    if args.final_fits and args.budget != 1.0:
        raise SystemExit("--final-fits trains on the whole pool: it needs --budget 1")
    if "random" not in args.strategies:
        raise SystemExit("--strategies must include 'random' (the baseline)")
    if args.retrain == "product" and args.members is not None:
        raise SystemExit("--members sets the fast classifier's size; the product's is its own")
    members = FAST_PARAMS["n_ensemble"] if args.members is None else args.members
    if "committee" in args.strategies and args.retrain == "fast" and members < 2:
        raise SystemExit("the 'committee' order needs --members 2 or more")
    from scripts.bench.plot import line_charts

    cpu0, wall0 = time.process_time(), time.perf_counter()
    pools = [hmc_pool(args.hmc_dir, name, max_pool=args.max_pool) for name in args.datasets]
    if args.demo_data is not None:
        pools.append(demo_pool(args.demo_data))
    curves = run(
        pools,
        args.strategies,
        range(args.seeds),
        retrain=args.retrain,
        members=members,
        budget=args.budget,
        step=args.step,
        labels_per_tag=args.typical_labels_per_tag,
        min_agreement=args.min_neighbour_agreement,
    )
    whole_pool, whole_pool_lines = {}, []
    for pool in pools if args.final_fits else ():
        # seeds 0 .. --seeds - 1 trained that model as random's last round: only the rest is fitted
        random_curve = next(c for c in curves if c.dataset == pool.name and c.strategy == "random")
        scores = [run[-1] for run in random_curve.auprc_by_seed][: args.final_fits]
        scores += whole_pool_scores(
            pool, range(len(scores), args.final_fits), retrain=args.retrain, members=members
        )
        whole_pool[pool.name] = scores
        whole_pool_lines.append(
            f"\n{pool.name}, every label, {len(scores)} training seeds: {np.mean(scores):.4f} "
            f"± {np.std(scores, ddof=1) / np.sqrt(len(scores)):.4f} (s.e.), "
            f"range {min(scores):.4f}-{max(scores):.4f}"
        )
    line_charts(
        args.png,
        {
            pool.name: {c.strategy: (c.n_labels, c.auprc) for c in curves if c.dataset == pool.name}
            for pool in pools
        },
        x_label="labelled examples",
        y_label="test micro AU(PRC)",
    )
    retrain_label = "product" if args.retrain == "product" else f"fast, {members} member(s)"
    report = (
        format_table(summary_rows(curves, whole_pool))
        + "\n"
        + "".join(whole_pool_lines)
        + "\n"
        + format_curves(curves)
        + f"\n\n{time.process_time() - cpu0:.0f} CPU s, {time.perf_counter() - wall0:.0f} wall s;"
        f" seeds averaged: {args.seeds}; retrain: {retrain_label} every {args.step:.1%} of the"
        f" pool; budget: {args.budget:.0%} of the pool; plot: {args.png}"
        + (
            f"; typical_then_badge switches at {args.typical_labels_per_tag:g} labels a tag"
            f" (or where the neighbour agreement is below {args.min_neighbour_agreement:g})"
            if "typical_then_badge" in args.strategies
            else ""
        )
        + "\n"
    )
    print(report)
    if args.md is not None:
        args.md.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
