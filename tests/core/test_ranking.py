"""The review-order scores: hand-computed small cases and the batch selection's guarantees."""

from __future__ import annotations

import numpy as np
import pytest

from core import ranking
from core.classifier import GradientEmbedding


def test_closeness_is_one_on_the_threshold_and_zero_at_the_ends() -> None:
    proba = np.array([[0.2, 0.0, 1.0, 0.6]])
    thresholds = np.array([0.2, 0.4, 0.5, 0.4])
    # 0.6 above 0.4: distance 0.2 of a room of 0.6 -> closeness 1 - 1/3
    np.testing.assert_allclose(ranking.closeness(proba, thresholds), [[1.0, 0.0, 0.0, 2 / 3]])


def test_closest_call_is_closeness_to_the_threshold() -> None:
    thresholds = np.array([0.5, 0.2])
    proba = np.array([[0.5, 0.0], [1.0, 0.0], [0.75, 0.0], [0.9, 0.1], [0.0, 0.0]])
    np.testing.assert_allclose(ranking.closest_call(proba, thresholds), [1.0, 0.0, 0.5, 0.5, 0.0])


def test_closest_call_tag_is_the_tag_closest_call_scores() -> None:
    thresholds = np.array([0.5, 0.2, 0.03])
    # row 0: 0.21 just over 0.2 beats 0.9 over 0.5; row 1: the rare tag on its tiny threshold
    # is no candidate, so tag 0 (0.55 over 0.5)
    proba = np.array([[0.9, 0.21, 0.0], [0.55, 0.05, 0.029]])
    tags = ranking.closest_call_tag(proba, thresholds)
    assert tags.tolist() == [1, 0]
    near = ranking.closeness(proba, thresholds)[np.arange(2), tags]
    np.testing.assert_allclose(near, ranking.closest_call(proba, thresholds))


def test_closest_call_ignores_rare_tags_sitting_on_tiny_thresholds() -> None:
    thresholds = np.array([0.5, 0.02, 0.03])
    proba = np.array([[0.95, 0.019, 0.029], [0.55, 0.0, 0.0]])
    # the rare tags sit right at their thresholds but nobody would weigh them: only tag 0 counts
    np.testing.assert_allclose(ranking.closest_call(proba, thresholds), [0.1, 0.9])


def test_closest_call_ignores_implausible_tags() -> None:
    # row 0's second tag sits just below its tiny threshold, far below the candidate floor
    proba = np.array([[0.9, 0.019], [0.55, 0.0]])
    thresholds = np.array([0.5, 0.02])
    scores = ranking.closest_call(proba, thresholds)
    assert scores[1] > scores[0]
    assert scores[0] == pytest.approx(1 - 0.4 / 0.5)


def test_expected_errors_hand_computed() -> None:
    proba = np.array([[0.9, 0.3, 0.05], [0.6, 0.6, 0.5]])
    thresholds = np.array([0.5, 0.5, 0.5])
    # row 0: predicted 0.9 -> 0.1 wrong, left out 0.3 -> 0.3, left out 0.05 -> 0.05
    # row 1: every tag predicted: 0.4 + 0.4 + 0.5
    np.testing.assert_allclose(ranking.expected_errors(proba, thresholds), [0.45, 1.3])


def test_diverse_batch_skips_near_duplicates() -> None:
    embeddings = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.7, 0.7]])
    scores = np.array([1.0, 0.99, 0.5, 0.1])
    picked = ranking.diverse_batch(scores, embeddings, 2)
    assert picked.tolist() == [0, 2]  # not the near-copy of row 0, despite its score


def test_diverse_batch_avoids_what_is_labelled_already() -> None:
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0]])
    picked = ranking.diverse_batch(
        np.array([1.0, 0.9]), embeddings, 1, labelled=np.array([[1.0, 0.001]])
    )
    assert picked.tolist() == [1]


def test_diverse_batch_returns_distinct_rows_up_to_k() -> None:
    rng = np.random.default_rng(1)
    picked = ranking.diverse_batch(rng.random(30), rng.normal(size=(30, 4)), 10)
    assert len(set(picked.tolist())) == 10
    assert ranking.diverse_batch(rng.random(3), rng.normal(size=(3, 4)), 10).size == 3


def test_committee_disagreement_hand_computed() -> None:
    # 2 members, 2 rows, 2 tags. Row 0: members agree (0.5, 0.5) -> variance 0 although the mean
    # sits on the threshold. Row 1: tag 0 at 0.2 vs 0.8 (variance 0.09), tag 1 at 0.1 vs 0.3 (0.01)
    members = np.array([[[0.5, 0.5], [0.2, 0.1]], [[0.5, 0.5], [0.8, 0.3]]])
    np.testing.assert_allclose(ranking.committee_disagreement(members), [0.0, 0.1])


def test_committee_disagreement_needs_a_committee() -> None:
    with pytest.raises(ValueError, match="members >= 2"):
        ranking.committee_disagreement(np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="member"):
        ranking.select("committee", 1, proba=np.zeros((3, 2)), thresholds=np.full(2, 0.5))


def test_typicality_is_the_mean_cosine_similarity_to_the_pool() -> None:
    embeddings = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    # row 0: cos to itself 1, to row 1 1, to row 2 0 -> mean 2/3 -> (1 + 2/3) / 2
    # row 2: 0, 0, 1 -> mean 1/3
    np.testing.assert_allclose(ranking.typicality(embeddings), [5 / 6, 5 / 6, 2 / 3])


def test_density_weighting_puts_the_equally_uncertain_outlier_last() -> None:
    embeddings = np.array([[1.0, 0.0], [1.0, 0.1], [0.9, 0.0], [-1.0, 0.0]])
    proba = np.array([[0.6], [0.55], [0.5], [0.5]])  # rows 2 and 3: on the threshold
    picked = ranking.select(
        "density", 2, proba=proba, thresholds=np.array([0.5]), embeddings=embeddings
    )
    assert picked.tolist() == [2, 1]  # the typical close call, then the nearer typical one
    assert ranking.select("closest_call", 2, proba=proba, thresholds=np.array([0.5])).tolist() == [
        2,
        3,
    ]


def _gradients(residuals: list[list[float]], hidden: list[list[float]]) -> GradientEmbedding:
    """A one-member embedding from per-row factors."""
    return GradientEmbedding(np.array([residuals], float), np.array([hidden], float))


def test_gradient_length_ranks_by_the_gradients_norm() -> None:
    # ||r ⊗ h|| = ||r|| ||h||: row 0 5 x 1, row 1 1 x 2, row 2 certain (r = 0)
    gradients = _gradients([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]], [[1.0], [2.0], [9.0]])
    np.testing.assert_allclose(gradients.squared_norms(), [25.0, 4.0, 0.0])
    picked = ranking.select(
        "gradient_length", 3, proba=np.zeros((3, 2)), thresholds=np.zeros(2), gradients=gradients
    )
    assert picked.tolist() == [0, 1, 2]


def test_gradient_seeds_start_longest_and_never_pick_a_duplicate() -> None:
    # rows 0 and 1 have the same gradient; row 2 points elsewhere, row 3 is certain
    gradients = _gradients(
        [[2.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 0.0]], [[1.0], [1.0], [1.0], [1.0]]
    )
    for seed in range(5):
        picked = ranking.gradient_seeds(gradients, 3, np.random.default_rng(seed))
        assert picked[0] in (0, 1)  # the longest gradient (a tie: the first)
        assert len(set(picked.tolist())) == 3
        assert not {0, 1} <= set(picked.tolist())  # distance 0 to each other: never both


def test_gradient_seeds_are_deterministic_with_a_seed_and_cover_all_rows() -> None:
    rng = np.random.default_rng(4)
    gradients = GradientEmbedding(rng.normal(size=(2, 50, 3)), rng.normal(size=(2, 50, 6)))
    a = ranking.gradient_seeds(gradients, 10, np.random.default_rng(7))
    b = ranking.gradient_seeds(gradients, 10, np.random.default_rng(7))
    c = ranking.gradient_seeds(gradients, 10, np.random.default_rng(8))
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert len(set(a.tolist())) == 10
    # every row once when k >= n, even rows whose distances have all become zero
    zero = GradientEmbedding(np.zeros((1, 4, 2)), np.ones((1, 4, 3)))
    picked = ranking.gradient_seeds(zero, 9, np.random.default_rng(0))
    assert sorted(picked.tolist()) == [0, 1, 2, 3]


def test_badge_order_is_the_picks_then_the_rest_longest_gradient_first() -> None:
    rng = np.random.default_rng(5)
    gradients = GradientEmbedding(rng.normal(size=(2, 40, 3)), rng.normal(size=(2, 40, 6)))
    order = ranking.badge_order(gradients, 8, np.random.default_rng(1))
    assert sorted(order.tolist()) == list(range(40))  # every row once
    picks = ranking.gradient_seeds(gradients, 8, np.random.default_rng(1))
    assert order[:8].tolist() == picks.tolist()
    norms = gradients.squared_norms()[order[8:]]
    assert np.all(np.diff(norms) <= 0)
    again = ranking.badge_order(gradients, 8, np.random.default_rng(1))
    assert again.tolist() == order.tolist()
    assert ranking.badge_order(gradients, 100, np.random.default_rng(1)).shape == (40,)


def test_badge_order_reports_every_pick_and_the_same_order_as_without() -> None:
    rng = np.random.default_rng(0)
    gradients = GradientEmbedding(rng.normal(size=(2, 40, 3)), rng.normal(size=(2, 40, 6)))
    heard: list[tuple[int, int]] = []
    order = ranking.badge_order(
        gradients, 8, np.random.default_rng(1), progress=lambda *pick: heard.append(pick)
    )
    assert heard == [(picked, 8) for picked in range(2, 9)]  # the first pick is instant
    unwatched = ranking.badge_order(gradients, 8, np.random.default_rng(1))
    np.testing.assert_array_equal(order, unwatched)


def test_gradient_orders_need_the_gradients() -> None:
    with pytest.raises(ValueError, match="gradient embedding"):
        ranking.select("badge", 1, proba=np.zeros((3, 2)), thresholds=np.full(2, 0.5))


@pytest.mark.parametrize("strategy", ranking.STRATEGIES)
def test_select_returns_k_distinct_rows(strategy: str) -> None:
    rng = np.random.default_rng(2)
    members = rng.random((3, 40, 5))
    picked = ranking.select(
        strategy,
        7,
        proba=members.mean(axis=0),
        thresholds=np.full(5, 0.5),
        embeddings=rng.normal(size=(40, 3)),
        rng=rng,
        member_proba=members,
        gradients=GradientEmbedding(rng.normal(size=(3, 40, 5)), rng.normal(size=(3, 40, 4))),
    )
    assert len(set(picked.tolist())) == 7
    assert picked.max() < 40


def test_select_rejects_unknown_strategies_by_name() -> None:
    with pytest.raises(ValueError, match="expected one of"):
        ranking.select("entropy", 3, proba=np.zeros((4, 2)), thresholds=np.zeros(2))


def test_mixed_takes_half_closest_calls_and_half_random() -> None:
    proba = np.linspace(0.0, 1.0, 21)[:, None]  # row 10 sits on the 0.5 threshold
    picked = ranking.select(
        "mixed", 4, proba=proba, thresholds=np.array([0.5]), rng=np.random.default_rng(3)
    )
    top = np.argsort(-ranking.closest_call(proba, np.array([0.5])), kind="stable")[:2]
    assert picked[:2].tolist() == top.tolist()
    assert len(set(picked.tolist())) == 4


def _blobs(rng: np.random.Generator, n_blobs: int, size: int) -> np.ndarray:
    """``n_blobs`` tight clusters in orthogonal directions, ``size`` rows each, blob by blob."""
    centres = 10.0 * np.eye(n_blobs)
    return np.concatenate([c + 0.1 * rng.normal(size=(size, n_blobs)) for c in centres])


def test_typical_clusters_cover_every_mode_before_any_second_pick() -> None:
    rng = np.random.default_rng(4)
    pool = _blobs(rng, 5, 30)
    picked = ranking.typical_clusters(pool, 5, np.random.default_rng(0))
    assert sorted((picked // 30).tolist()) == [0, 1, 2, 3, 4]


def test_typical_clusters_go_where_nothing_is_labelled_yet() -> None:
    rng = np.random.default_rng(5)
    rows = _blobs(rng, 4, 30)
    labelled, pool = rows[[0, 1, 30, 31]], np.delete(rows, [0, 1, 30, 31], axis=0)
    picked = ranking.typical_clusters(pool, 2, np.random.default_rng(0), labelled=labelled)
    blob_of_pool_row = np.delete(np.arange(len(rows)) // 30, [0, 1, 30, 31])
    assert sorted(blob_of_pool_row[picked].tolist()) == [2, 3]


def test_typical_clusters_take_a_central_row_not_an_outlier() -> None:
    rng = np.random.default_rng(6)
    centre = np.array([5.0, 5.0, 0.0])
    blob = centre + rng.normal(scale=0.05, size=(40, 3))
    outliers = centre + np.array([[3.0, -3.0, 4.0], [-3.0, 3.0, 4.0]])  # same cluster, far out
    pool = np.concatenate([outliers, blob])
    picked = ranking.typical_clusters(pool, 1, np.random.default_rng(0))
    assert picked.tolist() != [0] and picked.tolist() != [1]
    unit = pool / np.linalg.norm(pool, axis=1, keepdims=True)
    distance = 1.0 - unit @ unit.T
    typical = 1.0 / np.sort(distance, axis=1)[:, 1:21].mean(axis=1)
    assert typical[picked[0]] >= np.quantile(typical[2:], 0.5)


def test_typical_clusters_on_a_pool_beyond_the_bounds_still_cover_every_mode(monkeypatch) -> None:
    """A queue-sized pool (here: bounds shrunk to the test's size) is fitted on a sample,
    measured against sampled mates in blocks, and still covers the modes first; with more
    labelled rows than the fitting budget holds, it still picks."""
    monkeypatch.setattr(ranking, "_TYPICAL_FIT_ROWS", 60)
    monkeypatch.setattr(ranking, "_TYPICAL_MATES", 12)
    monkeypatch.setattr(ranking, "_TYPICAL_BLOCK", 7)
    rng = np.random.default_rng(8)
    pool = _blobs(rng, 5, 40)  # 200 rows, 40 a mode
    picked = ranking.typical_clusters(pool, 5, np.random.default_rng(0))
    assert sorted((picked // 40).tolist()) == [0, 1, 2, 3, 4]
    small_pool, labelled = _blobs(rng, 5, 8), _blobs(rng, 5, 16)  # 40 rows; 80 labelled,
    picked = ranking.typical_clusters(  # more than the 60 fitted rows hold alone
        small_pool, 5, np.random.default_rng(0), labelled=labelled
    )
    assert len(set(picked.tolist())) == 5


def test_typical_clusters_count_a_labelled_row_still_in_the_pool_once(recwarn) -> None:
    """The product's cold start: videos with imported labels are also in the review pool, so
    their rows come twice. k-means gets no more clusters than different rows (it warned and
    made empty clusters before), and the unlabelled modes still come first."""
    rng = np.random.default_rng(9)
    pool = _blobs(rng, 3, 4)  # 12 rows, 3 modes; the first two modes' rows are all labelled
    picked = ranking.typical_clusters(pool, 12, np.random.default_rng(0), labelled=pool[:8])
    assert not [w for w in recwarn if "distinct clusters" in str(w.message)]
    assert sorted(picked.tolist()) == list(range(12))
    assert picked[0] // 4 == 2


def test_typical_clusters_return_the_whole_pool_when_k_exceeds_it() -> None:
    pool = np.random.default_rng(7).normal(size=(6, 3))
    picked = ranking.typical_clusters(pool, 10, np.random.default_rng(0))
    assert sorted(picked.tolist()) == list(range(6))


def test_typical_order_needs_the_embeddings() -> None:
    with pytest.raises(ValueError, match="embeddings"):
        ranking.select("typical", 1, proba=np.zeros((3, 2)), thresholds=np.full(2, 0.5))


def test_typical_then_badge_covers_until_the_labels_a_tag_then_follows_badge() -> None:
    rng = np.random.default_rng(8)
    n_tags = 2
    pool = rng.normal(size=(40, 3))
    proba = rng.random((40, n_tags))
    gradients = GradientEmbedding(rng.normal(size=(1, 40, n_tags)), rng.normal(size=(1, 40, 4)))
    switch = int(ranking.TYPICAL_LABELS_PER_TAG * n_tags)
    few, enough = rng.normal(size=(switch - 1, 3)), rng.normal(size=(switch, 3))

    def picked(strategy: str, labelled: np.ndarray) -> list[int]:
        return ranking.select(
            strategy,
            4,
            proba=proba,
            thresholds=np.full(n_tags, 0.5),
            embeddings=pool,
            labelled=labelled,
            rng=np.random.default_rng(0),
            gradients=gradients,
        ).tolist()

    assert picked("typical_then_badge", few) == picked("typical", few)
    assert picked("typical_then_badge", enough) == picked("badge", enough)
    assert picked("typical", few) != picked("badge", few)


def test_neighbour_agreement_against_hand_computed_cases() -> None:
    """Two pairs of look-alikes. Each row's labels are one tag of 1, so against a random other
    row the expected micro F1 is 2 x (4 x 1/3) / (4 + 4) = 1/3 when each tag is on two rows."""
    look_alikes = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]])
    x, y = [1, 0], [0, 1]
    # the twins share their tag: nearest F1 1, so (1 - 1/3) / (1 - 1/3)
    assert ranking.neighbour_agreement(look_alikes, np.array([x, x, y, y])) == pytest.approx(1.0)
    # the twins never do: nearest F1 0, so (0 - 1/3) / (1 - 1/3)
    assert ranking.neighbour_agreement(look_alikes, np.array([x, y, x, y])) == pytest.approx(-0.5)
    # a parent tag p on every row (ancestors included): {p, a} {p, a} | {p, b} {p}. Nearest:
    # overlaps 2 + 2 + 1 + 1 over sizes 7 + 7, F1 6/7. Chance: mean overlaps 4/3 + 4/3 + 1 + 1
    # = 14/3, others' mean sizes 5/3 + 5/3 + 5/3 + 2 = 7, F1 2 x (14/3) / 14 = 2/3. So
    # (6/7 - 2/3) / (1/3) = 4/7
    with_parent = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [1, 0, 0]])
    assert ranking.neighbour_agreement(look_alikes, with_parent) == pytest.approx(4 / 7)
    with pytest.raises(ValueError, match="at least two"):
        ranking.neighbour_agreement(look_alikes[:1], np.array([x]))


def _clustered(rng, rows: int, *, labels_follow: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows in four tight clusters, each with one tag: its own cluster's, or a random one."""
    cluster = rng.integers(4, size=rows)
    embeddings = np.eye(4)[cluster] + rng.normal(scale=0.05, size=(rows, 4))
    tags = cluster if labels_follow else rng.integers(4, size=rows)
    return embeddings, np.eye(4)[tags]


def test_covers_first_until_the_labels_a_tag_unless_neighbours_share_no_labels() -> None:
    rng = np.random.default_rng(3)
    tags = 100  # 3 a tag: 300 labelled rows end the cold start
    few = _clustered(rng, ranking.AGREEMENT_ROWS - 1, labels_follow=False)
    assert ranking.covers_first(*few, tags) == (True, None)  # too few to tell: coverage
    following = _clustered(rng, 200, labels_follow=True)
    cover, agreement = ranking.covers_first(*following, tags)
    assert cover and agreement > 0.9
    unrelated = _clustered(rng, 200, labels_follow=False)
    cover, agreement = ranking.covers_first(*unrelated, tags)
    assert not cover and agreement < ranking.MIN_NEIGHBOUR_AGREEMENT
    assert ranking.covers_first(*unrelated, tags, min_agreement=0) == (True, None)
    assert ranking.covers_first(*unrelated, 10) == (False, None)  # 200 >= 3 x 10: over anyway
    assert ranking.covers_first(unrelated[0], None, tags) == (True, None)  # no labels given


def test_the_cold_start_agreement_is_the_mean_over_seeded_samples_of_one_size(monkeypatch):
    """Samples of ``AGREEMENT_ROWS`` rows, the same ones at every call: its value does not grow
    with the labels as the agreement of all of them does."""
    seen: list[int] = []
    measure = ranking.neighbour_agreement
    monkeypatch.setattr(
        ranking, "neighbour_agreement", lambda e, y: seen.append(len(e)) or measure(e, y)
    )
    rows = _clustered(np.random.default_rng(4), 1000, labels_follow=False)
    first = ranking.cold_start_agreement(*rows)
    assert ranking.cold_start_agreement(*rows) == first
    assert seen == [ranking.AGREEMENT_ROWS] * (2 * ranking.AGREEMENT_DRAWS)
    monkeypatch.undo()
    # unrelated labels: the agreement of all 1,000 rows and of samples of 100 both near 0
    assert abs(first) < 0.05 and abs(ranking.neighbour_agreement(*rows)) < 0.05


def test_typical_then_badge_follows_badge_where_neighbours_share_no_labels() -> None:
    rng = np.random.default_rng(5)
    pool = rng.normal(size=(40, 4))
    proba = rng.random((40, 4))
    gradients = GradientEmbedding(rng.normal(size=(1, 40, 4)), rng.normal(size=(1, 40, 4)))
    labelled, labels = _clustered(rng, 120, labels_follow=False)

    def picked(strategy: str, labelled_labels: np.ndarray | None) -> list[int]:
        return ranking.select(
            strategy,
            4,
            proba=proba,
            thresholds=np.full(4, 0.5),
            embeddings=pool,
            labelled=labelled,
            rng=np.random.default_rng(0),
            gradients=gradients,
            labels_per_tag=100,  # 120 rows of 4 tags: deep in the cold start
            labelled_labels=labelled_labels,
        ).tolist()

    assert picked("typical_then_badge", None) == picked("typical", None)
    assert picked("typical_then_badge", labels) == picked("badge", labels)
