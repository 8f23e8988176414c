"""The server ranks the review pool again once a video that arrived on its own (an upload, a
video processed again) has waited ``rerank_after_s`` unranked: one rank job for the interval's
arrivals, never two at once or beside a prediction job (on both backends), under a model a
pool-wide prediction run, before the first model coverage during the cold start."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from core.lifecycle import coverage, jobs, prediction, queue_ranking, training
from db.engine import Database, DatabaseBusyError
from db.queries import jobs as jobs_q
from db.queries import model_versions as models_q
from db.queries import videos as videos_q
from db.queries.videos import PredictionSummary
from db.tables import JobStatus, VideoStatus, utcnow
from tests.support.threads import at_once

pytestmark = pytest.mark.usefixtures("one_torch_thread")
WAIT = timedelta(seconds=600)


def _pool_with_one_arrival(db: Database) -> tuple[int, int]:
    """An active version whose pool of three videos was ranked, then one more video predicted
    by it (an upload); the version's and the arrival's ids."""
    with db.session() as s:
        version = models_q.create_model_version(s, encoder_id="lite", encoder_version="1")
        models_q.finish_model_version(s, model_version_id=version.id, status="ready")
        models_q.set_active_model(s, model_version_id=version.id)
        ids = [videos_q.create_video(s, title=f"v{i}").id for i in range(4)]
        _predict(s, version.id, ids[:3])
        videos_q.set_review_ranks(
            s,
            model_version_id=version.id,
            ranked_ids=ids[:3],
            pool_read_at=utcnow(),
            ranked_by="badge",
        )
    with db.session() as s:
        _predict(s, version.id, ids[3:])
    return version.id, ids[3]


def _predict(session, version_id: int, ids: list[int]) -> None:
    summaries = [PredictionSummary(video_id=v, uncertainty=0.5, top_tag=None) for v in ids]
    videos_q.set_prediction_summaries(session, model_version_id=version_id, summaries=summaries)


def _finish(db: Database, job_id: int) -> None:
    with db.session() as s:
        jobs_q.update_job(s, job_id=job_id, status=JobStatus.FAILED, message="done")


def test_due_once_the_first_arrival_has_waited() -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    state = queue_ranking.RankingState(None, 1, 3, now - timedelta(seconds=599))
    assert queue_ranking.due(state, rerank_after_s=600, now=now) is None
    later = now + timedelta(seconds=1)
    assert queue_ranking.due(state, rerank_after_s=600, now=later) == (
        "3 videos reached the pool after the last ranking"
    )
    assert queue_ranking.due(state, rerank_after_s=0, now=later) is None  # off
    nothing = queue_ranking.RankingState(None, 1, 0, None)
    assert queue_ranking.due(nothing, rerank_after_s=600, now=later) is None


def test_an_arrival_that_waited_starts_one_rank_job(database, settings, launched) -> None:
    version, arrival = _pool_with_one_arrival(database)
    now = utcnow()
    assert queue_ranking.start_if_due(database, settings=settings, now=now) is None  # just came
    job_id = queue_ranking.start_if_due(database, settings=settings, now=now + WAIT)
    assert launched == [job_id]
    with database.session() as s:
        job = jobs_q.get_job(s, job_id=job_id)
        assert job.kind == "rank" and job.status == JobStatus.QUEUED
        assert json.loads(job.params_json) == {
            "reason": "1 video reached the pool after the last ranking",
            "started_by": "the server",
        }
    assert queue_ranking.start_if_due(database, settings=settings, now=now + WAIT) is None
    _finish(database, job_id)  # it failed: the arrival is still due, but not retried at once
    with database.session() as s:
        failed_at = jobs_q.get_job(s, job_id=job_id).updated_at
    soon = failed_at + WAIT - timedelta(seconds=1)
    assert queue_ranking.start_if_due(database, settings=settings, now=soon) is None
    again = queue_ranking.start_if_due(database, settings=settings, now=failed_at + WAIT)
    assert again is not None and launched == [job_id, again]
    _finish(database, again)
    with database.session() as s:
        predict = jobs_q.create_job(s, kind="predict", params={}).id  # it ranks when it ends
    assert queue_ranking.start_if_due(database, settings=settings, now=now + WAIT) is None
    _finish(database, predict)
    with database.session() as s:  # a ranking that read the pool after the arrival
        videos_q.set_review_ranks(
            s,
            model_version_id=version,
            ranked_ids=[arrival],
            pool_read_at=utcnow(),
            ranked_by="badge",
        )
    assert queue_ranking.start_if_due(database, settings=settings, now=utcnow() + WAIT) is None
    assert len(launched) == 2


def test_servers_checking_at_once_start_one_rank_job(
    database, settings, launched, monkeypatch
) -> None:
    """Each check reads the pool slowly; without the start lock each would start its own job."""
    _pool_with_one_arrival(database)
    read = queue_ranking.ranking_state

    def slow_read(session, *, settings):
        state = read(session, settings=settings)
        time.sleep(0.3)
        return state

    monkeypatch.setattr(queue_ranking, "ranking_state", slow_read)
    later = utcnow() + WAIT
    started = at_once(lambda: queue_ranking.start_if_due(database, settings=settings, now=later))
    assert len([j for j in started if j is not None]) == 1 and len(launched) == 1
    with database.session() as s:
        assert len(jobs_q.list_jobs(s, kind="rank")) == 1


@pytest.fixture
def trained_pool(db, settings, synthetic) -> list[int]:
    """24 synthetic videos over 6 tags (imported labels) and a trained active model; BADGE
    picks 5 of the pool."""
    _, ids = synthetic.build(db, 24)
    training.train_model(
        db,
        settings=settings,
        user=None,
        encoder_key=synthetic.encoder_key,
        params=synthetic.params(),
    )
    settings.review_rank_badge_picks = 5
    return ids


def test_a_rank_job_ranks_a_video_predicted_on_its_own(db, settings, trained_pool) -> None:
    """Under a model the job is a pool-wide prediction run: the upload takes its place in the
    order, and the Queue page's line says when the order was chosen."""
    ids = trained_pool
    prediction.predict_videos(db, settings=settings)
    upload = ids[7]
    prediction.predict_videos(db, settings=settings, video_ids=[upload])  # as after an upload
    with db.session() as s:
        assert videos_q.get_video(s, video_id=upload).review_rank is None
        state = queue_ranking.ranking_state(s, settings=settings)
    assert state.arrivals == 1
    assert state.describe(rerank_after_s=600).endswith(
        " UTC (v1, BADGE, 24 videos). 1 video arrived since and waits at the end (the server ranks "
        "the pool again 10 min after the first arrived)."
    )
    with db.session() as s:
        job_id = jobs_q.create_job(s, kind="rank", params={"reason": "1 video reached"}).id
    info = jobs.run_job(db, job_id, settings=settings)
    assert (info.status, info.result) == (JobStatus.SUCCEEDED, {"videos": 0}), info.message
    with db.session() as s:
        ranks = [v.review_rank for v in videos_q.get_videos(s, video_ids=ids)]
        state = queue_ranking.ranking_state(s, settings=settings)
    assert sorted(ranks) == list(range(24))  # the upload among them
    assert state.arrivals == 0 and state.last.videos == 24
    assert state.describe(rerank_after_s=0).endswith(" UTC (v1, BADGE, 24 videos).")


def test_rank_if_due_ranks_in_this_process_and_says_why_not(
    db, settings, trained_pool, monkeypatch
) -> None:
    """`tagger rank-if-due`: the server's rank job, run in the calling process when it is due,
    recorded as a rank job (so a server never ranks beside it); otherwise the reason in words."""
    ids = trained_pool
    prediction.predict_videos(db, settings=settings)
    assert queue_ranking.rank_if_due(db, settings=settings, now=utcnow()) == (
        "Not due: no video reached the pool after the last ranking."
    )
    prediction.predict_videos(db, settings=settings, video_ids=[ids[7]])  # as after an upload
    with db.session() as s:
        arrived = queue_ranking.ranking_state(s, settings=settings).first_arrival
    assert queue_ranking.rank_if_due(
        db, settings=settings, now=arrived + timedelta(seconds=90)
    ) == (
        "Not due: 1 video reached the pool after the last ranking, the first 1.5 min ago "
        "(ranked once it has waited 10 min)."
    )
    with db.session() as s:
        predict = jobs_q.create_job(s, kind="predict", params={}).id
    assert queue_ranking.rank_if_due(db, settings=settings, now=arrived + WAIT) == (
        f"Not started: predict job {predict} is still queued (it ranks the pool when it ends)."
    )
    _finish(db, predict)

    def broken(db, *, settings, progress=None):
        raise jobs.JobError("the encoder is gone")

    monkeypatch.setattr(prediction, "predict_videos", broken)
    with pytest.raises(jobs.JobError, match=r"rank job \d+ failed: the encoder is gone"):
        queue_ranking.rank_if_due(db, settings=settings, now=arrived + WAIT)
    with db.session() as s:
        failed = jobs_q.list_jobs(s, kind="rank", limit=1)[0]
    assert queue_ranking.rank_if_due(
        db, settings=settings, now=arrived + WAIT
    ) == (  # due, not yet retried
        f"Not started: rank job {failed.id} failed (the encoder is gone); the next try is after "
        f"{(failed.updated_at + WAIT).astimezone(UTC):%Y-%m-%d %H:%M} UTC."
    )
    monkeypatch.undo()

    done = queue_ranking.rank_if_due(db, settings=settings, now=failed.updated_at + WAIT)
    with db.session() as s:
        job = jobs_q.list_jobs(s, kind="rank", limit=1)[0]
        ranks = [v.review_rank for v in videos_q.get_videos(s, video_ids=ids)]
    assert done.startswith(
        f"Ranked again (rank job {job.id}: 1 video reached the pool after the last ranking). "
        "Order chosen at "
    ) and done.endswith(" UTC (v1, BADGE, 24 videos).")
    assert (job.status, job.pid) == (JobStatus.SUCCEEDED, os.getpid())
    assert json.loads(job.params_json)["started_by"] == "`tagger rank-if-due`"
    assert sorted(ranks) == list(range(24))  # the upload among them
    assert queue_ranking.rank_if_due(db, settings=settings, now=utcnow() + WAIT) == (
        "Not due: no video reached the pool after the last ranking."
    )


def test_the_end_of_the_cold_start_ranks_the_pool_again_at_once(
    db, settings, trained_pool, launched
) -> None:
    """The head was chosen by coverage; once enough videos are labelled for BADGE (here: the
    setting lowered), the server ranks again without waiting for an arrival, and only once."""
    settings.review_cold_start_labels_per_tag = 5  # 24 labelled, 30 needed: the head covers
    prediction.predict_videos(db, settings=settings)
    with db.session() as s:
        state = queue_ranking.ranking_state(s, settings=settings)
    assert (state.last.ranked_by, state.cold_start_over, state.arrivals) == ("coverage", False, 0)
    assert queue_ranking.start_if_due(db, settings=settings, now=utcnow() + WAIT) is None

    settings.review_cold_start_labels_per_tag = 4  # 24 needed: reached
    job_id = queue_ranking.start_if_due(db, settings=settings, now=utcnow())
    assert launched == [job_id]
    with db.session() as s:
        assert (
            "BADGE takes the head"
            in json.loads(jobs_q.get_job(s, job_id=job_id).params_json)["reason"]
        )
    assert jobs.run_job(db, job_id, settings=settings).status == JobStatus.SUCCEEDED
    with db.session() as s:
        state = queue_ranking.ranking_state(s, settings=settings)
    assert (state.last.ranked_by, state.cold_start_over) == ("badge", False)
    assert queue_ranking.start_if_due(db, settings=settings, now=utcnow() + WAIT) is None
    assert len(launched) == 1


def test_before_the_first_model_a_rank_job_covers_the_new_videos(
    db, settings, synthetic, launched
) -> None:
    """No model: the arrivals are processed videos, and the job ranks by coverage, but only
    while the cold start lasts; a job that could rank nothing is recorded, so the same arrivals
    do not start another."""
    synthetic.build(db, 12)  # 12 labelled videos over 6 tags: a cold start at 3 a tag
    settings.encoder = synthetic.encoder_key[0]  # their vectors are the configured encoder's
    settings.review_cold_start_labels_per_tag = 3
    with db.session() as s:
        for i in (0, 1):
            videos_q.create_video(s, title=f"new {i}", status=VideoStatus.READY)
    later = utcnow() + WAIT
    job_id = queue_ranking.start_if_due(db, settings=settings, now=later)
    assert launched == [job_id]
    assert queue_ranking.rank_queue(db, settings=settings) == 12  # the two new ones: no vectors
    with db.session() as s:
        last = videos_q.get_queue_ranking(s)
    assert (last.model_version_id, last.videos, last.ranked_by) == (None, 12, "coverage")
    assert queue_ranking.start_if_due(db, settings=settings, now=later) is None

    settings.review_cold_start_labels_per_tag = 1  # 12 labels >= 6 tags: past the cold start
    with db.session() as s:
        videos_q.create_video(s, title="one more", status=VideoStatus.READY)
    assert coverage.cold_start(db, settings=settings) is None
    assert queue_ranking.start_if_due(db, settings=settings, now=utcnow() + WAIT) is None
    before = utcnow()
    assert queue_ranking.rank_queue(db, settings=settings) == 0  # e.g. a job started earlier
    with db.session() as s:
        last = videos_q.get_queue_ranking(s)  # the coverage order stands, checked now
        assert last.ranked_at >= before and (last.videos, last.ranked_by) == (12, "coverage")
        assert queue_ranking.ranking_state(s, settings=settings).arrivals == 0
    assert len(launched) == 1


def test_the_rank_watcher_checks_until_stopped_and_outlives_a_busy_database(
    db, settings, monkeypatch
) -> None:
    calls: list[datetime] = []

    def check(db, *, settings, now) -> None:
        calls.append(now)
        if len(calls) == 1:
            raise DatabaseBusyError("busy for a moment")

    monkeypatch.setattr(queue_ranking, "start_if_due", check)
    settings.rerank_after_s = 0.2  # a check every 0.05 s
    watcher = queue_ranking.RankWatcher(db, settings=settings).start()
    deadline = time.monotonic() + 10
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    watcher.stop()
    assert len(calls) >= 3
    seen = len(calls)
    time.sleep(0.2)
    assert len(calls) == seen
    settings.rerank_after_s = 0
    with pytest.raises(ValueError, match="rerank_after_s > 0"):
        queue_ranking.RankWatcher(db, settings=settings)
