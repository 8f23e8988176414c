"""The coverage order (core/lifecycle/coverage.py): before the first model the queue opens with
one typical video of each kind of content, least-labelled kinds first, equal to TypiClust
computed directly; nothing happens under a model or with the setting at 0; the joint embeddings
land in one projected space whatever the batches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core import ranking
from core.lifecycle import coverage
from core.lifecycle.progress import StepProgress
from db.queries import labels as labels_q
from db.queries import videos as videos_q
from db.tables import LabelSource, ModelVersion
from tests.support.fakes import activate_stand_in_model

TITLE = ("title",)


@pytest.fixture
def corpus(db, settings, synthetic) -> dict[int, str]:
    """24 processed videos of 4 kinds (a title cluster each), none labelled; ``{id: kind}``."""
    settings.encoder = synthetic.encoder_key[0]  # their vectors are the configured encoder's
    _, ids = synthetic.build(db, 24)
    with db.session() as session:
        imported = [
            (v, label.node_id) for v in ids for label in labels_q.get_labels(session, video_id=v)
        ]
        labels_q.delete_labels(session, labels=imported, source=LabelSource.IMPORT)
        titles = {v.id: v.title for v in videos_q.get_videos(session, video_ids=ids)}
    return {v: titles[v].split()[0] for v in ids}


def _head(db, ids) -> list[int]:
    with db.session() as session:
        ranks = {v.id: v.review_rank for v in videos_q.get_videos(session, video_ids=list(ids))}
    return sorted((v for v in ranks if ranks[v] is not None), key=ranks.__getitem__)


def test_before_the_first_model_the_queue_opens_with_one_video_of_each_kind(
    db, settings, synthetic, corpus
):
    settings.review_rank_badge_picks = 4
    heard: list[StepProgress] = []

    ranked = coverage.rank_before_first_model(db, settings=settings, progress=heard.append)

    head = _head(db, corpus)
    assert ranked == len(head) == 4
    assert {corpus[v] for v in head} == {"Soccer", "Tennis", "Rock", "Jazz"}
    ids, points = coverage.joint_points(
        db, encoder_key=synthetic.encoder_key, modalities=TITLE, video_ids=list(corpus)
    )
    rng = np.random.default_rng(coverage.COVERAGE_SEED)
    assert head == [ids[i] for i in ranking.typical_clusters(points, 4, rng)]
    assert heard[0] == StepProgress(coverage.PICKS_STEP, 0, 4, unit="picks")
    assert heard[-1] == StepProgress(coverage.PICKS_STEP, 4, 4, unit="picks")


def test_kinds_already_labelled_come_after_those_nobody_labelled(db, settings, synthetic, corpus):
    soccer = next(v for v, kind in corpus.items() if kind == "Soccer")
    with db.session() as session:
        labels_q.import_labels(session, labels=[(soccer, synthetic.taxonomy().find("Sports").id)])
    settings.review_rank_badge_picks = 3

    coverage.rank_before_first_model(db, settings=settings)

    assert sorted(corpus[v] for v in _head(db, corpus)) == ["Jazz", "Rock", "Tennis"]


def test_nothing_is_ranked_under_a_model_or_with_the_cold_start_off(db, settings, corpus):
    settings.review_cold_start_labels_per_tag = 0
    assert coverage.rank_before_first_model(db, settings=settings) == 0
    settings.review_cold_start_labels_per_tag = 3
    activate_stand_in_model(db)
    assert coverage.rank_before_first_model(db, settings=settings) == 0
    assert _head(db, corpus) == []


def test_labels_enough_for_a_first_model_end_the_cold_start(db, settings, synthetic, corpus):
    """3 a tag of the label space a first model would have: Soccer and its parent Sports."""
    soccer = synthetic.taxonomy().find("Sports: Soccer").id
    labelled = list(corpus)[:6]
    with db.session() as session:
        labels_q.import_labels(session, labels=[(v, soccer) for v in labelled[:5]])
    assert coverage.rank_before_first_model(db, settings=settings) > 0  # 5 < 3 x 2 tags
    with db.session() as session:
        labels_q.import_labels(session, labels=[(labelled[5], soccer)])
    assert coverage.rank_before_first_model(db, settings=settings) == 0  # 6: train a model


def test_under_a_model_the_cold_start_is_counted_in_its_tags(db, settings, corpus):
    """A version that predates recording its label space says nothing; one with 10 tags is in
    its cold start below 3 x 10 labelled videos."""
    version_id = activate_stand_in_model(db)
    assert coverage.cold_start(db, settings=settings) is None
    with db.session() as session:
        version = session.get(ModelVersion, version_id)
        version.metrics_json = json.dumps({"n_tags": 10})
        session.add(version)
    assert coverage.cold_start(db, settings=settings) == coverage.ColdStart(0, 30, True)
    settings.review_cold_start_labels_per_tag = 0
    assert coverage.cold_start(db, settings=settings) is None


def test_joint_points_are_projected_alike_for_every_batch(db, synthetic, corpus, monkeypatch):
    """Pool and labelled videos, read apart and in batches, land in one projected space."""
    ids = list(corpus)
    key = synthetic.encoder_key
    whole_ids, whole = coverage.joint_points(db, encoder_key=key, modalities=TITLE, video_ids=ids)
    monkeypatch.setattr(coverage, "COVERAGE_DIM", 4)  # narrower than the title vectors
    monkeypatch.setattr(coverage, "READ_BATCH", 7)
    first_ids, first = coverage.joint_points(
        db, encoder_key=key, modalities=TITLE, video_ids=ids[:10]
    )
    rest_ids, rest = coverage.joint_points(
        db, encoder_key=key, modalities=TITLE, video_ids=ids[10:]
    )
    assert whole_ids == ids == first_ids + rest_ids
    projected = np.concatenate([first, rest])
    assert projected.shape == (len(ids), 4) and whole.shape[1] > 4
    np.testing.assert_allclose(projected, whole @ coverage.projection(whole.shape[1]), atol=1e-5)


def test_a_batch_without_a_modality_keeps_every_modality_in_its_place(db, settings, synthetic):
    """Every 4th synthetic video has no frames vector: read alone, they must land where they
    land among the others (one layout), not in a narrower matrix."""
    _, ids = synthetic.build(db, 8, frames=True)
    key, modalities = synthetic.encoder_key, ("title", "frames")
    all_ids, everything = coverage.joint_points(
        db, encoder_key=key, modalities=modalities, video_ids=ids
    )
    without_frames = ids[3::4]
    part_ids, part = coverage.joint_points(
        db, encoder_key=key, modalities=modalities, video_ids=without_frames
    )
    assert part_ids == without_frames
    np.testing.assert_allclose(part, everything[[all_ids.index(v) for v in part_ids]])
