"""The review queue's BADGE order over the unreviewed pool (core/lifecycle/review_order.py):
written after pool-wide prediction, equal to the ranking computed directly from the model,
repeatable, absent for videos predicted one by one until the next pool-wide run, and reported
step by step (to a callback, and into a prediction job's row) until the ranks are written. At a
cold start (fewer labelled videos than the setting's labels per tag) the head is chosen by
coverage of the cached embeddings instead, and the switch happens at exactly that count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import ranking
from core import review as review_rules
from core.config import Settings
from core.lifecycle import coverage, jobs, prediction, registry, review_order, training
from core.lifecycle.model_inputs import label_matrix
from core.lifecycle.progress import StepProgress
from db.queries import jobs as jobs_q
from db.queries import review as review_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.tables import JobStatus

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PICKS = 5  # fewer than the pool, so both parts of the order are exercised


@pytest.fixture
def trained(db, settings, synthetic):
    """32 synthetic videos, a trained active model, the first video reviewed."""
    taxonomy, ids = synthetic.build(db, 32)
    version = training.train_model(
        db,
        settings=settings,
        user=None,
        encoder_key=synthetic.encoder_key,
        params=synthetic.params(),
    )
    with db.session() as session:
        user = users_q.create_user(session, username="mod", password_hash="x")
        video = videos_q.get_video(session, video_id=ids[0])
        review_rules.save_review(
            session,
            video_id=ids[0],
            expected_version=video.version,
            node_ids=[taxonomy.find("Music: Jazz").id],
            user=user,
        )
    settings.review_rank_badge_picks = PICKS
    settings.review_cold_start_labels_per_tag = 0  # BADGE; the cold start is tested on its own
    return ids, version


def _ranks(db, ids: list[int]) -> dict[int, int | None]:
    with db.session() as session:
        return {v.id: v.review_rank for v in videos_q.get_videos(session, video_ids=ids)}


def test_pool_wide_prediction_ranks_the_unreviewed_pool_by_badge(db, settings, trained, synthetic):
    ids, _ = trained
    prediction.predict_videos(db, settings=settings)

    ranks = _ranks(db, ids)
    pool = ids[1:]
    assert ranks[ids[0]] is None  # reviewed: not in the pool
    assert sorted(ranks[i] for i in pool) == list(range(len(pool)))
    model = registry.load_active_model(db, settings=settings)
    with db.session() as session:
        titles = [v.title for v in videos_q.get_videos(session, video_ids=pool)]
    X = {"title": np.stack([synthetic.title_vector(t) for t in titles])}
    gradients = model.classifier.predict_gradient_embedding(X)
    expected = ranking.badge_order(gradients, PICKS, np.random.default_rng(review_order.RANK_SEED))
    assert sorted(pool, key=ranks.__getitem__) == [pool[i] for i in expected]

    assert prediction.predict_videos(db, settings=settings) == 0  # nothing new: re-ranked alike
    assert _ranks(db, ids) == ranks


def test_a_video_predicted_by_id_waits_unranked_after_the_ranked_pool(db, settings, trained):
    ids, _ = trained
    prediction.predict_videos(db, settings=settings)
    first = min(ids[1:], key=_ranks(db, ids).__getitem__)

    prediction.predict_videos(db, settings=settings, video_ids=[first])  # e.g. after ingest

    assert _ranks(db, [first]) == {first: None}
    with db.session() as session:
        queue = review_q.list_queue(
            session, filters=review_q.QueueFilters(statuses=("predicted",)), page=1, page_size=50
        )
    assert [row.video_id for row in queue.rows][-1] == first
    prediction.predict_videos(db, settings=settings)
    assert _ranks(db, [first]) == {first: 0}  # the next pool-wide run ranks it again


def test_the_ranking_reports_each_step_and_ends_once_the_ranks_are_written(
    db, settings, trained, monkeypatch
):
    ids, _ = trained
    monkeypatch.setattr(review_order, "RANK_BATCH", 10)
    heard: list[tuple[str, int, int, str]] = []
    ranked_when_heard: list[bool] = []

    def progress(step: StepProgress) -> None:
        heard.append((step.step, step.done, step.total, step.unit))
        if step.step == review_order.WRITE_STEP:
            ranked_when_heard.append(None not in _ranks(db, ids[1:]).values())

    prediction.predict_videos(db, settings=settings, progress=progress)

    gradients, picks, write = (
        review_order.GRADIENTS_STEP,
        review_order.PICKS_STEP,
        review_order.WRITE_STEP,
    )
    assert heard == [
        (prediction.PREDICT_STEP, 32, 32, "videos"),  # the reviewed video is predicted too
        *[(gradients, done, 31, "videos") for done in (0, 10, 20, 30, 31)],
        *[(picks, done, PICKS, "picks") for done in (0, 2, 3, 4, 5)],
        (write, 0, 31, "videos"),
        (write, 31, 31, "videos"),
    ]
    assert ranked_when_heard == [False, True]
    assert (
        StepProgress(gradients, 10_000, 100_000).describe()
        == "ranking the review queue (gradients): 10,000 of 100,000 videos"
    )


def test_a_prediction_job_shows_the_ranking_while_it_runs(db, settings, trained, monkeypatch):
    """The job's row names the ranking's step while it runs, not "predicting" at 100 %."""
    with db.session() as session:
        job_id = jobs_q.create_job(session, kind="predict", params={}).id
    seen: list[tuple[str, float, str]] = []
    badge_order = review_order.badge_order

    def watched(*args, **kwargs):
        row = jobs.get_job(db, job_id)
        seen.append((row.status, row.progress, row.message))
        return badge_order(*args, **kwargs)

    monkeypatch.setattr(review_order, "badge_order", watched)
    info = jobs.run_job(db, job_id, settings=settings)
    assert seen == [
        (JobStatus.RUNNING, 0.0, f"ranking the review queue (BADGE picks): 0 of {PICKS} picks")
    ]
    assert (info.status, info.progress, info.result) == (JobStatus.SUCCEEDED, 1.0, {"videos": 32})
    assert None not in _ranks(db, trained[0][1:]).values()


def test_the_ranking_runs_with_the_configured_torch_threads(db, settings, trained):
    settings.torch_threads = 2  # the fixture set 1 and restores what was there
    prediction.predict_videos(db, settings=settings)
    assert torch.get_num_threads() == 2


def test_pool_gradients_are_the_same_read_in_small_batches(db, settings, trained, monkeypatch):
    ids, _ = trained
    prediction.predict_videos(db, settings=settings)
    model = registry.load_active_model(db, settings=settings)
    whole_ids, whole = review_order.pool_gradients(db, model=model, video_ids=ids, memory_mb=256)
    monkeypatch.setattr(review_order, "RANK_BATCH", 7)
    parts_ids, parts = review_order.pool_gradients(db, model=model, video_ids=ids, memory_mb=256)
    assert parts_ids == whole_ids == ids
    np.testing.assert_allclose(parts.residuals, whole.residuals, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(parts.hidden, whole.hidden, rtol=1e-5, atol=1e-6)

    _, projected = review_order.pool_gradients(db, model=model, video_ids=ids, memory_mb=0)
    assert projected.hidden.shape[2] == review_order.MIN_PROJECTION_DIM < whole.hidden.shape[2]


def test_projection_only_when_the_exact_factors_exceed_the_budget():
    shape = {"members": 5, "nodes": 200, "width": 500}
    assert review_order.projection_dim(rows=10_000, budget_bytes=256 * 2**20, **shape) is None
    # 100,000 videos: 1.4 GB exact; 256 MB allows 67 columns per factor
    assert review_order.projection_dim(rows=100_000, budget_bytes=256 * 2**20, **shape) == 67
    assert review_order.projection_dim(rows=10**8, budget_bytes=2**20, **shape) == 16


def _steps_heard(db, settings) -> set[str]:
    heard: set[str] = set()
    prediction.predict_videos(db, settings=settings, progress=lambda step: heard.add(step.step))
    return heard


def test_a_cold_start_orders_the_head_by_coverage_of_the_cached_embeddings(
    db, settings, trained, synthetic
):
    """32 labelled videos (imported labels) over 6 tags: 6 a tag asked, so coverage picks."""
    ids, _ = trained
    settings.review_cold_start_labels_per_tag = 6
    assert coverage.PICKS_STEP in _steps_heard(db, settings)

    ranks = _ranks(db, ids)
    pool = ids[1:]
    with db.session() as session:
        titles = {v.id: v.title for v in videos_q.get_videos(session, video_ids=ids)}
    title_vectors = {i: synthetic.title_vector(titles[i]) for i in ids}
    model = registry.load_active_model(db, settings=settings)
    gradients = model.classifier.predict_gradient_embedding(
        {"title": np.stack([title_vectors[i] for i in pool])}
    )
    points = {i: ranking.joint_embedding({"title": title_vectors[i][None]})[0] for i in ids}
    picks = ranking.typical_clusters(
        np.stack([points[i] for i in pool]),
        PICKS,
        np.random.default_rng(coverage.COVERAGE_SEED),
        labelled=np.stack([points[i] for i in ids]),  # every video has an imported label
    )
    expected = ranking.then_by_gradient_length(picks, gradients)
    assert sorted(pool, key=ranks.__getitem__) == [pool[i] for i in expected]
    head_leaves = {titles[i].split()[0] for i in sorted(pool, key=ranks.__getitem__)[:4]}
    assert len(head_leaves) == 4  # the first four cover the four leaf topics


def test_the_cold_start_ends_at_the_labels_a_tag_set_and_0_never_starts_it(db, settings, trained):
    settings.review_cold_start_labels_per_tag = 32 / 6 + 0.01  # 32.06 labelled videos asked
    assert coverage.PICKS_STEP in _steps_heard(db, settings)
    settings.review_cold_start_labels_per_tag = 32 / 6  # exactly the 32 there are
    heard = _steps_heard(db, settings)
    assert review_order.PICKS_STEP in heard and coverage.PICKS_STEP not in heard
    settings.review_cold_start_labels_per_tag = 0
    assert coverage.PICKS_STEP not in _steps_heard(db, settings)


def test_the_queue_and_the_benchmark_switch_at_the_same_labels_a_tag():
    """docs/LABEL_QUALITY.md measures ``typical_then_badge`` as the queue's default order."""
    default = Settings.model_fields["review_cold_start_labels_per_tag"].default
    assert default == ranking.TYPICAL_LABELS_PER_TAG
    agreement = Settings.model_fields["review_cold_start_min_agreement"].default
    assert agreement == ranking.MIN_NEIGHBOUR_AGREEMENT


def test_a_cold_start_where_look_alikes_share_few_labels_follows_badge(
    db, settings, trained, synthetic, monkeypatch
):
    """The labelled videos' neighbour agreement (measured here on samples of 10 of the 32, the
    size lowered from 100) is recorded with the ranking: at or above the setting the head
    covers, below it BADGE takes it, and the cold start says which agreement decided."""
    ids, _ = trained
    monkeypatch.setattr(ranking, "AGREEMENT_ROWS", 10)
    settings.review_cold_start_labels_per_tag = 6
    assert coverage.PICKS_STEP in _steps_heard(db, settings)
    with db.session() as session:
        measured = videos_q.get_queue_ranking(session).neighbour_agreement
        labels = review_rules.effective_labels(session)
        titles = {v.id: v.title for v in videos_q.get_videos(session, video_ids=ids)}
    points = np.stack(
        [
            ranking.joint_embedding({"title": synthetic.title_vector(titles[i])[None]})[0]
            for i in ids
        ]
    )
    model = registry.load_active_model(db, settings=settings)
    expected = ranking.cold_start_agreement(
        points,
        label_matrix(labels, np.array(ids), model.metadata.node_ids, model.classifier.hierarchy_),
    )
    assert measured == pytest.approx(expected, abs=1e-6) and 0 < measured < 1
    assert coverage.cold_start(db, settings=settings).badge_agreement is None

    settings.review_cold_start_min_agreement = measured + 0.001
    heard = _steps_heard(db, settings)
    assert review_order.PICKS_STEP in heard and coverage.PICKS_STEP not in heard
    with db.session() as session:
        ranked = videos_q.get_queue_ranking(session)
    assert ranked.ranked_by == "badge" and ranked.neighbour_agreement == pytest.approx(measured)
    assert coverage.cold_start(db, settings=settings).badge_agreement == pytest.approx(measured)
    settings.review_cold_start_min_agreement = 0  # the count alone: coverage again
    assert coverage.PICKS_STEP in _steps_heard(db, settings)
