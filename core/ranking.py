"""Which unreviewed videos teach the model most: the scores behind "least certain first".

Every score is a pure function of the active model's probabilities ``proba`` (n, nodes) and its
per-node decision thresholds (and, for batches, the videos' embeddings), so the queue, the
prediction job and the active-learning benchmark (scripts/bench/active.py) rank the same way.

- ``closest_call``: how close the video's single closest tag decision sits to its threshold
  (the product's original order, see :func:`closeness`).
- ``expected_errors``: the expected number of wrong tag decisions if the probabilities are
  calibrated: ``p`` for a tag the model leaves out, ``1 - p`` for one it predicts, summed over
  the tags. A video with several doubtful tags outranks one with a single close call.
- ``mixed``: half of a batch in the closest-call order, half drawn at random from the rest, a
  guard against the sampling bias of pure uncertainty order on hard, noisy label sets.
- ``diverse_batch``: a batch of ``k`` from the best-scored candidates, spread out in embedding
  space (greedy farthest-first weighted by score), so one round does not spend its labels on
  near-duplicates.
- ``committee``: query by committee: how much the ensemble's members disagree about the row
  (:func:`committee_disagreement`); rows the members already agree on teach little even when
  their mean probability sits near a threshold.
- ``density``: closest call weighted by how typical the row is of the pool
  (:func:`density_weighted`), so lone outliers, hard and rarely informative, are not first.
- ``badge``: expected model change, BADGE (Ash et al. 2020): k-means++ seeding on the rows'
  gradient embeddings (:func:`gradient_seeds`), so a batch is both uncertain (long gradients)
  and diverse (gradients pointing different ways).
- ``gradient_length``: the cheap variant, rows ranked by the length of their gradient alone.
- ``typical``: cold-start coverage, TypiClust (Hacohen et al. 2022): the pool and the labelled
  rows are clustered in embedding space into one cluster per labelled row plus one per pick; each
  pick is the locally densest row of the largest cluster with the fewest labels
  (:func:`typical_clusters`). It needs no model, so it cannot be misled by a weak one.
- ``typical_then_badge``: ``typical`` while fewer than ``labels_per_tag`` labelled rows per tag
  of the label space are known, ``badge`` from then on (cold start, then uncertainty); and
  ``badge`` from the start where the labelled rows show that neighbours in embedding space share
  their labels no more than ``min_agreement`` beyond chance (:func:`covers_first`).

The review queue's default order is ``typical_then_badge`` over the whole unreviewed pool
(core/lifecycle/review_order.py: :func:`typical_clusters` at a cold start, then
:func:`badge_order`), with the switch at ``TYPICAL_LABELS_PER_TAG`` (docs/LABEL_QUALITY.md,
"Cold start").

``badge`` and ``gradient_length`` need the classifier's
:meth:`~core.classifier.HierarchicalClassifier.predict_gradient_embedding`; the gradients are
kept as two low-rank factors per row, never as ``(n, nodes x width)`` (see
core/classifier/gradient.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the coverage order runs where torch is not loaded (a Ray driver)
    from core.classifier.gradient import GradientEmbedding

CANDIDATE_FLOOR = 0.1  # tags below this probability (and not predicted) are not in question
STRATEGIES = (
    "random",
    "closest_call",
    "expected_errors",
    "diverse",
    "mixed",
    "committee",
    "density",
    "badge",
    "gradient_length",
    "typical",
    "typical_then_badge",
)
_DIVERSE_POOL = 4  # a diverse batch of k is drawn from the 4k best-scored candidates
# ``typical_then_badge`` picks by coverage below this many labelled rows per tag of the label
# space, as the review queue does by default (``Settings.review_cold_start_labels_per_tag``);
# where BADGE overtook coverage differed by data set, 1 to 6 (docs/LABEL_QUALITY.md, "Cold
# start"), so the benchmark takes others (``--typical-labels-per-tag``)
TYPICAL_LABELS_PER_TAG = 3.0
# ... unless the labelled rows' nearest neighbours share their labels less than this beyond
# chance (:func:`cold_start_agreement`): 0.00-0.10 on the gene-function sets (FUN, GO), where
# coverage never helped, 0.11-0.62 on the sets where it did or cost nothing, at every share of
# the pool labelled (docs/LABEL_QUALITY.md, "A cold start chosen from the data")
MIN_NEIGHBOUR_AGREEMENT = 0.10
# measured as the mean over AGREEMENT_DRAWS seeded samples of AGREEMENT_ROWS labelled rows: a
# nearest neighbour among more rows is nearer, so the agreement of all of them would grow with
# the labels (eisen_FUN: 0.03-0.07 at 5 % of the pool, 0.10-0.13 at 40 %); fewer labelled rows
# than a sample say too little, and the cold start covers, as without the rule
AGREEMENT_ROWS = 100
AGREEMENT_DRAWS = 10
_TYPICAL_NEIGHBOURS = 20  # local density = 1 / mean distance to this many nearest cluster mates
_TYPICAL_FIT_ROWS = 20_000  # k-means centres are fitted on at most this many rows
_TYPICAL_MATES = 2_000  # a larger cluster's density is measured against a sample this size
_TYPICAL_BLOCK = 4_096  # rows whose distances to the mates are held at once


def closeness(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per row and tag, 1 - the tag's distance to its threshold as a share of the room on that
    side (``|p - t| / t`` below, ``|p - t| / (1 - t)`` above): 1 on the threshold, 0 at 0 or 1."""
    proba = np.asarray(proba, dtype=np.float64)
    t = np.clip(np.asarray(thresholds, dtype=np.float64), 1e-6, 1 - 1e-6)
    room = np.where(proba >= t, 1.0 - t, t)
    return 1.0 - np.clip(np.abs(proba - t) / room, 0.0, 1.0)


def candidates(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The tags a moderator would actually weigh: predicted ones, plausible ones (probability
    >= ``CANDIDATE_FLOOR``) and each row's most probable tag. Hundreds of rare tags sit just
    below tiny thresholds; counting them would make every video look equally uncertain."""
    proba = np.asarray(proba)
    mask = (proba >= thresholds) | (proba >= CANDIDATE_FLOOR)
    if len(proba):
        mask[np.arange(len(proba)), proba.argmax(axis=1)] = True
    return mask


def closest_call(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per row (0..1): the closeness of its closest candidate tag to the tag's threshold."""
    near = closeness(proba, thresholds)
    return np.where(candidates(proba, thresholds), near, 0.0).max(axis=1)


def closest_call_tag(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per row, the column of the candidate tag :func:`closest_call` scores: the decision the
    model is least sure of, where a moderator's look is worth most."""
    near = closeness(proba, thresholds)
    return np.where(candidates(proba, thresholds), near, -1.0).argmax(axis=1)


def expected_errors(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per row: expected number of wrong tag decisions (``p`` if left out, ``1 - p`` if
    predicted), summed over every tag; higher means more to correct."""
    proba = np.asarray(proba, dtype=np.float64)
    predicted = proba >= np.asarray(thresholds)
    return np.where(predicted, 1.0 - proba, proba).sum(axis=1)


def committee_disagreement(member_proba: np.ndarray) -> np.ndarray:
    """Per row: the variance between the members' probabilities, summed over the tags. The
    members were trained on different slices; where they differ, a label settles a question the
    data has not yet answered, whereas a near-threshold mean they all share is mere noise."""
    members = np.asarray(member_proba, dtype=np.float64)
    if members.ndim != 3 or len(members) < 2:
        raise ValueError("committee disagreement needs (members >= 2, rows, tags) probabilities")
    return members.var(axis=0).sum(axis=1)


def typicality(embeddings: np.ndarray) -> np.ndarray:
    """Per row (0..1): its mean cosine similarity to every row of the pool, ``(1 + cos) / 2``.
    Equals the row's unit vector dotted with the mean unit vector: O(n d), not O(n^2)."""
    unit = _normalise(embeddings)
    if not len(unit):
        return np.empty(0)
    return (1.0 + unit @ unit.mean(axis=0)) / 2.0


def density_weighted(scores: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """``scores`` x :func:`typicality` (information density): an uncertain row like many others
    outranks an equally uncertain outlier, whose label teaches the model about itself only."""
    return np.asarray(scores, dtype=np.float64) * typicality(embeddings)


def diverse_batch(
    scores: np.ndarray, embeddings: np.ndarray, k: int, *, labelled: np.ndarray | None = None
) -> np.ndarray:
    """Indices of ``k`` rows: the top-scored row, then greedily the candidate maximising
    score x distance to everything chosen or already ``labelled`` (cosine distance)."""
    scores = np.asarray(scores, dtype=np.float64)
    if k <= 0 or len(scores) == 0:
        return np.empty(0, dtype=np.int64)
    k = min(k, len(scores))
    pool = np.argsort(-scores, kind="stable")[: max(k, _DIVERSE_POOL * k)]
    unit = _normalise(np.asarray(embeddings, dtype=np.float64)[pool])
    spread = np.ptp(scores[pool])
    # score counts, but never more than twice: the least doubtful candidate keeps half a vote
    weight = 0.5 + 0.5 * (scores[pool] - scores[pool].min()) / (spread if spread > 0 else 1.0)
    nearest = np.full(len(pool), 2.0)  # cosine distance to the nearest chosen/labelled row
    if labelled is not None and len(labelled):
        nearest = np.minimum(nearest, 1.0 - (unit @ _normalise(labelled).T).max(axis=1))
    chosen: list[int] = []
    taken = np.zeros(len(pool), dtype=bool)
    for _ in range(k):
        gain = np.where(taken, -np.inf, weight * np.maximum(nearest, 1e-6))
        best = int(np.argmax(gain))
        chosen.append(best)
        taken[best] = True
        nearest = np.minimum(nearest, 1.0 - unit @ unit[best])
    return pool[np.array(chosen)]


PickProgress = Callable[[int, int], None]  # (rows picked so far, rows to pick)


def typical_clusters(
    embeddings: np.ndarray,
    k: int,
    rng: np.random.Generator,
    *,
    labelled: np.ndarray | None = None,
    progress: PickProgress | None = None,
) -> np.ndarray:
    """Indices of ``k`` rows of ``embeddings`` (the unlabelled pool) by TypiClust: k-means on the
    pool and the ``labelled`` rows together into ``len(labelled) + k`` clusters; then, ``k``
    times, the cluster with the fewest labels (largest first among equals) gives its locally
    densest unpicked row (the inverse of its mean cosine distance to its nearest cluster mates:
    TypiClust's "typicality", local, unlike :func:`typicality`'s mean similarity to the whole
    pool). With few labels this covers the modes of the data before any model can be trusted to
    say what is uncertain.

    Bounded for the review queue's pools of up to 100,000: the centres are fitted on at most
    ``_TYPICAL_FIT_ROWS`` rows (every labelled row and a random sample of the pool) and every row
    is then assigned to its nearest centre; a cluster's local density is measured against at
    most ``_TYPICAL_MATES`` of its members, ``_TYPICAL_BLOCK`` rows at a time. Smaller pools
    (the benchmark's) are clustered and measured whole. ``progress`` hears ``(picked, k)``."""
    from sklearn.cluster import KMeans  # here: the queue's BADGE path never needs k-means

    n = len(embeddings)
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    known = np.empty((0, np.shape(embeddings)[1])) if labelled is None else labelled
    unit = _normalise(np.concatenate([embeddings, known]))
    # a labelled video still in the review pool (imported labels await a review) is there twice:
    # k-means cannot make more clusters than there are different rows
    n_clusters = min(_distinct_rows(unit), len(known) + k)
    kmeans = KMeans(n_clusters, n_init=1, random_state=int(rng.integers(2**31 - 1)))
    if len(unit) <= _TYPICAL_FIT_ROWS:
        cluster = kmeans.fit_predict(unit)
    else:
        # as many pool rows as fit beside the labelled ones, and never fewer than the k picks'
        # clusters need (nor more than the pool has)
        sample = rng.choice(n, min(n, max(_TYPICAL_FIT_ROWS - len(known), k)), replace=False)
        kmeans.fit(unit[np.concatenate([np.sort(sample), np.arange(n, len(unit))])])
        cluster = kmeans.predict(unit)
    labels_in = np.bincount(cluster[n:], minlength=n_clusters)
    size = np.bincount(cluster, minlength=n_clusters)
    local_density = _local_density(unit, cluster, n, rng)
    taken = np.zeros(n, dtype=bool)
    chosen: list[int] = []
    while len(chosen) < k:
        open_clusters = np.unique(cluster[:n][~taken])
        best = open_clusters[np.lexsort((-size[open_clusters], labels_in[open_clusters]))[0]]
        rows = np.flatnonzero((cluster[:n] == best) & ~taken)
        row = int(rows[np.argmax(local_density[rows])])
        chosen.append(row)
        taken[row] = True
        labels_in[best] += 1
        if progress is not None:
            progress(len(chosen), k)
    return np.array(chosen, dtype=np.int64)


def neighbour_agreement(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """How much closeness in embedding space says about the labels, from the labelled rows
    alone: (micro F1 of each row's labels against its nearest other row's, cosine - the expected
    micro F1 against a random other row's) / (1 - the latter). About 0: neighbours share labels
    no more than strangers, so covering the embedding space's regions first (TypiClust) spends
    labels on distinctions the labels do not follow; 1: neighbours share every label.

    ``labels`` is (rows, tags) of 0/1, ancestors included. The value grows with the rows (a
    nearest neighbour among more rows is nearer): compare samples of one size
    (:func:`cold_start_agreement`). The nearest rows are found ``_TYPICAL_BLOCK`` rows at a time;
    the rest needs no (rows, rows) matrix."""
    n = len(embeddings)
    if n < 2:
        raise ValueError("neighbour agreement needs at least two labelled rows")
    unit = _normalise(np.nan_to_num(np.asarray(embeddings, dtype=np.float32)))
    nearest = np.empty(n, dtype=np.int64)
    for start in range(0, n, _TYPICAL_BLOCK):
        similarity = unit[start : start + _TYPICAL_BLOCK] @ unit.T
        block = np.arange(len(similarity))
        similarity[block, start + block] = -np.inf  # not itself
        nearest[start : start + len(similarity)] = np.argmax(similarity, axis=1)
    Y = np.asarray(labels, dtype=np.float32)
    sizes = Y.sum(axis=1)
    near_overlap = np.einsum("ij,ij->i", Y, Y[nearest])
    near_f1 = 2 * near_overlap.sum() / max(sizes.sum() + sizes[nearest].sum(), 1e-12)
    # a random other row j != i: row i's mean overlap with the others, and their mean size
    mean_overlap = (Y @ Y.sum(axis=0) - sizes) / (n - 1)
    mean_other_size = (sizes.sum() - sizes) / (n - 1)
    chance_f1 = 2 * mean_overlap.sum() / max(sizes.sum() + mean_other_size.sum(), 1e-12)
    return float((near_f1 - chance_f1) / max(1 - chance_f1, 1e-12))


def covers_first(
    labelled: np.ndarray | None,
    labelled_labels: np.ndarray | None,
    tags: int,
    *,
    labels_per_tag: float = TYPICAL_LABELS_PER_TAG,
    min_agreement: float = MIN_NEIGHBOUR_AGREEMENT,
) -> tuple[bool, float | None]:
    """Whether a cold start's batch is chosen by coverage (``typical``) rather than BADGE, and
    the neighbour agreement that decided it (None: not measured). Coverage while fewer than
    ``labels_per_tag`` x ``tags`` rows are labelled, unless ``AGREEMENT_ROWS`` or more of them
    (embeddings ``labelled``, 0/1 labels with ancestors ``labelled_labels``) show a
    :func:`cold_start_agreement` below ``min_agreement`` (0 turns that test off)."""
    known = 0 if labelled is None else len(labelled)
    if known >= labels_per_tag * tags:
        return False, None
    if labelled_labels is None or min_agreement <= 0 or known < AGREEMENT_ROWS:
        return True, None
    agreement = cold_start_agreement(labelled, labelled_labels)
    return agreement >= min_agreement, agreement


def cold_start_agreement(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """:func:`neighbour_agreement` of ``AGREEMENT_ROWS`` labelled rows, the mean over
    ``AGREEMENT_DRAWS`` seeded samples: comparable between 100 labelled rows and 10,000."""
    rng = np.random.default_rng(0)
    samples = (
        rng.choice(len(embeddings), AGREEMENT_ROWS, replace=False) for _ in range(AGREEMENT_DRAWS)
    )
    return float(np.mean([neighbour_agreement(embeddings[s], labels[s]) for s in samples]))


def _distinct_rows(rows: np.ndarray) -> int:
    """How many different rows ``rows`` holds (compared byte for byte: 0.05 CPU s for 100,000
    rows of 128 float32)."""
    contiguous = np.ascontiguousarray(rows)
    row_bytes = np.dtype((np.void, contiguous.dtype.itemsize * contiguous.shape[1]))
    return len(np.unique(contiguous.view(row_bytes).ravel()))


def _local_density(
    unit: np.ndarray, cluster: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Per pool row (the first ``n`` of ``unit``): 1 / mean cosine distance to its
    ``_TYPICAL_NEIGHBOURS`` nearest mates in its cluster (1 in a cluster of one), measured
    against a sample of ``_TYPICAL_MATES`` mates in larger clusters."""
    density = np.zeros(n)
    for c in np.unique(cluster[:n]):
        members = np.flatnonzero(cluster == c)
        mates = members
        if len(mates) > _TYPICAL_MATES:
            mates = np.sort(rng.choice(members, _TYPICAL_MATES, replace=False))
        neighbours = min(_TYPICAL_NEIGHBOURS, len(mates) - 1)
        rows = members[members < n]
        for start in range(0, len(rows), _TYPICAL_BLOCK):
            block = rows[start : start + _TYPICAL_BLOCK]
            distance = 1.0 - unit[block] @ unit[mates].T
            distance[block[:, None] == mates[None, :]] = np.inf  # not its own neighbour
            if neighbours <= 0:
                density[block] = 1.0
                continue
            near = np.partition(distance, neighbours - 1, axis=1)[:, :neighbours]
            density[block] = 1.0 / (near.mean(axis=1) + 1e-6)
    return density


def joint_embedding(X: dict[str, np.ndarray]) -> np.ndarray:
    """One row per video for distances across modalities: each modality's unit vectors side by
    side, a missing modality (NaN row) as zeros, so every present modality weighs the same."""
    return np.concatenate([_normalise(x) for x in X.values()], axis=1)


def gradient_seeds(
    gradients: GradientEmbedding,
    k: int,
    rng: np.random.Generator,
    *,
    progress: PickProgress | None = None,
) -> np.ndarray:
    """Indices of ``k`` distinct rows by k-means++ seeding on the gradient embeddings: first
    the longest gradient, then each next row drawn with probability proportional to its squared
    distance to the nearest row chosen so far. O(n x k x members x (nodes + width)) time,
    O(n) memory beyond the factors. Rows left once every distance is zero (all-zero or
    duplicate gradients) are drawn uniformly. ``progress`` hears ``(picked, k)`` after every
    pick but the instant first one: 500 picks over 100,000 rows take about a minute."""
    n = gradients.n_rows
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    norms = gradients.squared_norms()
    chosen = [int(np.argmax(norms))]
    nearest = np.full(n, np.inf)
    taken = np.zeros(n, dtype=bool)
    taken[chosen[0]] = True
    while len(chosen) < k:
        last = chosen[-1]
        distance = norms + norms[last] - 2.0 * gradients.inner_products(last)
        nearest = np.minimum(nearest, np.maximum(distance, 0.0))
        weight = np.where(taken, 0.0, nearest)
        total = weight.sum()
        if total > 0:
            row = int(rng.choice(n, p=weight / total))
        else:
            row = int(rng.choice(np.flatnonzero(~taken)))
        chosen.append(row)
        taken[row] = True
        if progress is not None:
            progress(len(chosen), k)
    return np.array(chosen, dtype=np.int64)


def badge_order(
    gradients: GradientEmbedding,
    k: int,
    rng: np.random.Generator,
    *,
    progress: PickProgress | None = None,
) -> np.ndarray:
    """Every row, in review order: the ``k`` BADGE picks (:func:`gradient_seeds`), then the rest
    by gradient length, longest first. The length is the same expected-model-change signal
    without the diversity step, whose cost grows with every pick; a pool larger than ``k`` is
    re-ranked by a newer model long before a moderator reaches its tail. ``progress``: as
    :func:`gradient_seeds`."""
    picks = gradient_seeds(gradients, k, rng, progress=progress)
    return then_by_gradient_length(picks, gradients)


def then_by_gradient_length(picks: np.ndarray, gradients: GradientEmbedding) -> np.ndarray:
    """``picks``, then every other row by gradient length, longest first."""
    rest = np.setdiff1d(np.arange(gradients.n_rows), picks)
    rest = rest[np.argsort(-gradients.squared_norms()[rest], kind="stable")]
    return np.concatenate([picks, rest])


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def select(
    strategy: str,
    k: int,
    *,
    proba: np.ndarray,
    thresholds: np.ndarray,
    embeddings: np.ndarray | None = None,
    labelled: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    member_proba: np.ndarray | None = None,
    gradients: GradientEmbedding | None = None,
    labels_per_tag: float = TYPICAL_LABELS_PER_TAG,
    labelled_labels: np.ndarray | None = None,
    min_agreement: float = MIN_NEIGHBOUR_AGREEMENT,
) -> np.ndarray:
    """Indices of the ``k`` rows of ``proba`` that ``strategy`` would have reviewed next
    (``committee`` needs ``member_proba``; ``diverse``, ``density`` and ``typical`` the
    ``embeddings`` (and the ``labelled`` rows' where known); ``badge`` and ``gradient_length``
    the ``gradients``; ``typical_then_badge`` both, and decides by :func:`covers_first` with the
    ``labelled`` rows' ``labelled_labels``)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown ranking strategy {strategy!r}; expected one of {STRATEGIES}")
    n = len(proba)
    k = min(k, n)
    if strategy == "random":
        return (rng or np.random.default_rng(0)).permutation(n)[:k]
    if strategy == "typical_then_badge":
        cover, _ = covers_first(
            labelled,
            labelled_labels,
            proba.shape[1],
            labels_per_tag=labels_per_tag,
            min_agreement=min_agreement,
        )
        strategy = "typical" if cover else "badge"
    if strategy == "typical":
        if embeddings is None:
            raise ValueError("the 'typical' strategy needs the rows' embeddings")
        return typical_clusters(embeddings, k, rng or np.random.default_rng(0), labelled=labelled)
    if strategy in ("badge", "gradient_length"):
        if gradients is None or gradients.n_rows != n:
            raise ValueError(f"the {strategy!r} strategy needs the gradient embedding of each row")
        if strategy == "badge":
            return gradient_seeds(gradients, k, rng or np.random.default_rng(0))
        return np.argsort(-gradients.squared_norms(), kind="stable")[:k]
    if strategy == "committee":
        if member_proba is None:
            raise ValueError("the 'committee' strategy needs each member's probabilities")
        return np.argsort(-committee_disagreement(member_proba), kind="stable")[:k]
    if strategy in ("diverse", "density") and embeddings is None:
        raise ValueError(f"the {strategy!r} strategy needs the rows' embeddings")
    if strategy == "density":
        scores = density_weighted(closest_call(proba, thresholds), embeddings)
        return np.argsort(-scores, kind="stable")[:k]
    if strategy in ("closest_call", "mixed"):
        ranked = np.argsort(-closest_call(proba, thresholds), kind="stable")
        if strategy == "closest_call":
            return ranked[:k]
        head = ranked[: (k + 1) // 2]
        rest = (rng or np.random.default_rng(0)).permutation(ranked[len(head) :])
        return np.concatenate([head, rest[: k - len(head)]])
    scores = expected_errors(proba, thresholds)
    if strategy == "expected_errors":
        return np.argsort(-scores, kind="stable")[:k]
    return diverse_batch(scores, embeddings, k, labelled=labelled)
