"""Prediction from cached embeddings: rows per version, video summaries, uncertainty, tag tree."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from core import priority_rules, ranking
from core import review as review_rules
from core.encoders import Encoder, EncoderInput
from core.ingest import batch as ingest
from core.lifecycle import prediction, registry, training
from db.queries import model_versions as models_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.tables import PREDICTION_FLOOR, ReviewPriority, VideoStatus
from scripts.mediagen import write_video

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TitleEncoder(Encoder):
    """Encodes only titles, like the synthetic corpus does (so new videos fall into known
    clusters)."""

    def __init__(self, synthetic) -> None:
        self.id, self.version = synthetic.encoder_key
        self.dims = {"title": synthetic.title_dim}
        self._title_vector = synthetic.title_vector

    def encode_batch(self, items: Sequence[EncoderInput]) -> list[dict[str, np.ndarray]]:
        return [{"title": self._title_vector(item.title)} if item.title else {} for item in items]


@pytest.fixture
def trained(db, settings, synthetic):
    taxonomy, ids = synthetic.build(db, 32)
    version = training.train_model(
        db,
        settings=settings,
        user=None,
        encoder_key=synthetic.encoder_key,
        params=synthetic.params(),
    )
    return taxonomy, ids, version


def test_predictions_are_stored_with_the_version_and_summaries(db, settings, trained, synthetic):
    taxonomy, ids, version = trained
    with db.session() as session:
        user = users_q.create_user(session, username="mod", password_hash="x")
        reviewed = videos_q.get_video(session, video_id=ids[0])
        review_rules.save_review(
            session,
            video_id=ids[0],
            expected_version=reviewed.version,
            node_ids=[taxonomy.find("Music: Jazz").id],
            user=user,
        )

    assert prediction.predict_videos(db, settings=settings) == 32

    model = registry.load_active_model(db, settings=settings)
    with db.session() as session:
        videos = videos_q.get_videos(session, video_ids=ids)
        stored = models_q.get_predictions_for_videos(
            session, video_ids=ids, model_version_id=version.id
        )
    assert {v.predicted_model_id for v in videos} == {version.id}
    assert videos[0].status == VideoStatus.REVIEWED
    assert {v.status for v in videos[1:]} == {VideoStatus.PREDICTED}
    X = {"title": np.stack([synthetic.title_vector(v.title) for v in videos])}
    expected = ranking.closest_call(model.classifier.predict_proba(X), model.classifier.thresholds_)
    assert [v.uncertainty for v in videos] == pytest.approx(expected.tolist(), abs=1e-5)
    for video in videos:
        rows = {row.node_id: row for row in stored[video.id]}
        assert all(
            (
                row.probability >= PREDICTION_FLOOR
                or row.is_predicted
                or row.node_id == video.doubt_tag
            )
            and row.model_version_id == version.id
            for row in rows.values()
        )
        assert video.doubt_tag in rows
        if video.top_tag is not None:
            assert rows[video.top_tag].is_predicted
            children = [n.id for n in taxonomy.children(video.top_tag)]
            assert not any(rows[c].is_predicted for c in children if c in rows)  # most specific
    assert (
        sum(
            v.top_tag == taxonomy.find(f"Sports: {v.title.split()[0]}").id
            for v in videos
            if v.title.split()[0] in ("Soccer", "Tennis")
        )
        >= 12
    )  # learnt the clusters


def test_predicted_and_least_sure_tags_are_stored_under_the_floor(db, settings, trained):
    """The review page lists and ticks stored tags only: a tag predicted below the floor (its
    threshold is lower still) and the least-sure tag must be among them, with their scores."""
    _, ids, version = trained
    model = registry.load_active_model(db, settings=settings)
    names = model.metadata.node_ids
    proba = np.full((1, len(names)), PREDICTION_FLOOR / 10)
    proba[0, 0] = 0.5
    thresholds = np.full(len(names), 0.9)
    thresholds[1] = PREDICTION_FLOOR / 20
    model.classifier.thresholds_ = thresholds
    prediction.store_predictions(db, model=model, video_ids=[ids[0]], proba=proba)
    doubt = names[ranking.closest_call_tag(proba, thresholds)[0]]
    with db.session() as session:
        rows = {
            r.node_id: r
            for r in models_q.get_predictions(session, video_id=ids[0], model_version_id=version.id)
        }
        assert videos_q.get_video(session, video_id=ids[0]).doubt_tag == doubt
    assert set(rows) == {names[0], names[1], doubt}
    assert rows[names[1]].is_predicted and not rows[names[0]].is_predicted
    assert rows[doubt].probability == pytest.approx(float(proba[0, names.index(doubt)]))


def test_default_run_only_predicts_what_this_version_has_not(db, settings, trained):
    prediction.predict_videos(db, settings=settings)
    assert prediction.predict_videos(db, settings=settings) == 0
    assert prediction.predict_videos(db, settings=settings, all_videos=True) == 32


def test_repredict_with_a_chosen_version(db, settings, trained, synthetic):
    _, ids, v1 = trained
    prediction.predict_videos(db, settings=settings)
    v2 = training.train_model(
        db,
        settings=settings,
        user=None,
        encoder_key=synthetic.encoder_key,
        params=synthetic.params(max_epochs=2),
    )
    assert not v2.is_active

    assert prediction.predict_videos(db, settings=settings, version_id=v2.id) == 32

    with db.session() as session:
        assert {v.predicted_model_id for v in videos_q.get_videos(session, video_ids=ids)} == {
            v2.id
        }
        assert models_q.get_predictions(session, video_id=ids[1], model_version_id=v1.id)  # kept
        assert models_q.get_predictions(session, video_id=ids[1], model_version_id=v2.id)


def test_video_tag_tree_shows_paths(db, settings, trained):
    ids = trained[1]
    prediction.predict_videos(db, settings=settings)
    trees = prediction.video_tag_tree(db, ids[0], settings=settings)
    assert trees and {t.label for t in trees} <= {"Sports", "Music"}
    soccer = [child for tree in trees for child in tree.children if child.label == "Sports: Soccer"]
    assert (
        soccer
        and soccer[0].probability <= next(t for t in trees if t.label == "Sports").probability
    )


def test_ingest_predicts_new_videos_with_the_active_model(
    db, settings, trained, synthetic, tmp_path
):
    settings.num_keyframes = 2
    clip = write_video(
        tmp_path / "Rock concert tonight.mp4", [np.full((32, 32, 3), 50, np.uint8)] * 5, 10
    )
    report = ingest.ingest_paths(db, [clip], settings=settings, encoder=TitleEncoder(synthetic))
    assert report.predicted == 1
    with db.session() as session:
        video = videos_q.get_video(session, video_id=report.results[0].video_id)
    assert video.status == VideoStatus.PREDICTED and video.predicted_model_id == trained[2].id


def test_priority_rules_raise_the_videos_the_active_model_gives_their_tag(db, settings, trained):
    """The one write path of predictions applies the rules: every video not reviewed whose
    stored Sports probability reaches 0.5 is urgent, with the tag and its probability as the
    reason; the others stay normal, the reviewed one too."""
    taxonomy, ids, _ = trained
    sports = taxonomy.find("Sports").id
    with db.session() as session:
        priority_rules.add_rule(
            session, tag="Sports", min_probability=0.5, level=ReviewPriority.URGENT, user=None
        )
        moderator = users_q.create_user(session, username="mod", password_hash="x")
        review_rules.save_review(
            session, video_id=ids[0], expected_version=0, node_ids=[], user=moderator
        )
    assert prediction.predict_videos(db, settings=settings) == 32
    with db.session() as session:
        videos = videos_q.get_videos(session, video_ids=ids)
        stored = models_q.get_predictions_for_videos(
            session, video_ids=ids, model_version_id=videos[0].predicted_model_id
        )
    probability = {
        v.id: next((r.probability for r in stored[v.id] if r.node_id == sports), 0.0)
        for v in videos
    }
    expected = {v.id for v in videos[1:] if probability[v.id] >= 0.5}
    assert 8 <= len(expected) < 31  # the sports clusters, not everything
    assert {v.id for v in videos if v.priority == ReviewPriority.URGENT} == expected
    for video in videos:
        if video.id in expected:
            assert video.priority_reason == (
                f"the model gives Sports {probability[video.id]:.2f} (rule: from 0.50)"
            )
