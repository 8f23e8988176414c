"""Training from the database: training set, split, train_model, evaluate_model (synthetic data)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core import review as review_rules
from core.classifier import load_classifier
from core.lifecycle import training
from core.taxonomy import Taxonomy
from db.queries import embeddings as embeddings_q
from db.queries import labels as labels_q
from db.queries import model_versions as models_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.tables import ModelStatus

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _column(data: training.TrainingSet, taxonomy: Taxonomy, path: str) -> int:
    return data.node_ids.index(taxonomy.find(path).id)


def test_training_set_has_nan_rows_closed_labels_and_one_encoder(db, synthetic):
    taxonomy, ids = synthetic.build(db, 12, frames=True)
    with db.session() as session:  # other encoder version and an unembedded video stay out
        other = videos_q.create_video(session, title="old encoder only")
        embeddings_q.put_embeddings(
            session,
            records=[
                embeddings_q.EmbeddingRecord(
                    other.id, "title", "fake", "v0", "x", np.ones(8, np.float32)
                )
            ],
        )
        labels_q.import_labels(session, labels=[(other.id, taxonomy.find("Music").id)])
        bare = videos_q.create_video(session, title="no embeddings")
        labels_q.import_labels(session, labels=[(bare.id, taxonomy.find("Music").id)])

    data = training.build_training_set(db, encoder_id="fake", encoder_version="v1")

    assert data.video_ids.tolist() == ids
    assert set(data.X) == {"title", "frames"} and data.X["title"].shape == (12, synthetic.title_dim)
    missing = np.isnan(data.X["frames"]).all(axis=1)
    assert missing.tolist() == [i % 4 == 3 for i in range(12)]
    assert not np.isnan(data.X["frames"][~missing]).any()
    soccer, sports = _column(data, taxonomy, "Sports: Soccer"), _column(data, taxonomy, "Sports")
    assert data.Y[0, soccer] and data.Y[0, sports] and data.Y[0].sum() == 2
    assert data.hierarchy.violations(data.Y.astype(float)) == 0


def test_human_correction_overrides_the_imported_label(db, synthetic):
    taxonomy, ids = synthetic.build(db, 12, frames=True)
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

    data = training.build_training_set(db, encoder_id="fake", encoder_version="v1")

    row = data.Y[list(data.video_ids).index(ids[0])]
    assert row[_column(data, taxonomy, "Music: Jazz")] and row[_column(data, taxonomy, "Music")]
    assert not row[_column(data, taxonomy, "Sports: Soccer")]
    assert not row[_column(data, taxonomy, "Sports")]


def test_label_space_is_the_labelled_nodes_closed_under_ancestors(db, synthetic):
    taxonomy, ids = synthetic.build(db, 12)
    jazz, rock = taxonomy.find("Music: Jazz").id, taxonomy.find("Music: Rock").id
    with db.session() as session:  # a moderator re-labels every jazz video as rock
        user = users_q.create_user(session, username="mod", password_hash="x")
        for video_id in ids[3::4]:
            video = videos_q.get_video(session, video_id=video_id)
            review_rules.save_review(
                session,
                video_id=video_id,
                expected_version=video.version,
                node_ids=[rock],
                user=user,
            )
    data = training.build_training_set(db, encoder_id="fake", encoder_version="v1")

    assert jazz not in data.node_ids and rock in data.node_ids
    assert set(data.node_ids) == set(taxonomy.ids) - {jazz}
    assert data.hierarchy.n_nodes == len(data.node_ids) == data.Y.shape[1]
    assert data.hierarchy.violations(data.Y.astype(float)) == 0


def test_split_is_seeded_and_stable_as_data_grows():
    ids = np.arange(1, 201)
    train, valid = training.split_indices(ids)
    assert np.array_equal(valid, training.split_indices(ids)[1])
    assert sorted([*train, *valid]) == list(range(200)) and 20 <= len(valid) <= 60
    grown = np.arange(1, 401)
    grown_valid = set(grown[training.split_indices(grown)[1]].tolist())
    assert set(ids[valid].tolist()) <= grown_valid
    assert len(training.split_indices(np.arange(1, 6))[1]) == training.MIN_VALID


def test_train_model_stores_a_ready_active_version_with_metrics(db, settings, synthetic):
    synthetic.build(db, 40, frames=True)
    encoder = synthetic.encoder_key
    updates: list[tuple[float, str]] = []

    version = training.train_model(
        db,
        settings=settings,
        user=None,
        encoder_key=encoder,
        params=synthetic.params(),
        progress=lambda f, message, metrics: updates.append((f, message)),
    )

    assert version.status == ModelStatus.READY and version.is_active  # the first model
    metrics = json.loads(version.metrics_json)
    assert metrics["violations"] == 0
    for key in (
        "micro_auprc",
        "hierarchical_precision",
        "hierarchical_recall",
        "hierarchical_f1",
        "f1_level_0",
        "f1_level_1",
        "training_seconds",
    ):
        assert key in metrics
    assert metrics["micro_auprc"] > 0.6  # clustered data: far better than the ~0.3 base rate
    assert version.n_train + version.n_valid == 40 and metrics["n_valid"] == version.n_valid
    assert metrics["n_tags"] == 6  # the label space: 2 tier-1 tags and their 4 leaves
    saved = load_classifier(settings.data_dir / version.artifact_path)
    assert metrics["threshold_floor"] == saved.threshold_floor_  # what the Models page shows
    assert (settings.data_dir / version.artifact_path / "model.safetensors").is_file()
    assert updates and all(0 <= f <= 1 for f, _ in updates) and "epoch" in updates[0][1]

    quick = synthetic.params(max_epochs=2)
    second = training.train_model(
        db, settings=settings, user=None, encoder_key=encoder, params=quick
    )
    assert second.status == ModelStatus.READY and not second.is_active
    third = training.train_model(
        db, settings=settings, user=None, encoder_key=encoder, params=quick, activate=True
    )
    assert third.is_active
    with db.session() as session:
        assert models_q.get_active_model(session).id == third.id


def test_too_few_labelled_videos_is_a_clear_error(db, settings, synthetic):
    synthetic.build(db, 5, frames=True)
    encoder = synthetic.encoder_key
    with pytest.raises(
        training.NotEnoughDataError, match=f"at least {training.MIN_LABELLED_VIDEOS}.*found 5"
    ):
        training.train_model(
            db, settings=settings, user=None, encoder_key=encoder, params=synthetic.params()
        )
    with pytest.raises(training.NotEnoughDataError, match="found 0"):
        training.train_model(
            db, settings=settings, user=None, encoder_key=("fake", "v2"), params=synthetic.params()
        )


def test_failed_training_marks_the_version_failed(db, settings, monkeypatch, synthetic):
    synthetic.build(db, 12, frames=True)
    encoder = synthetic.encoder_key

    def broken_fit(self, *args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(training.HierarchicalClassifier, "fit", broken_fit)
    with pytest.raises(RuntimeError, match="simulated crash"):
        training.train_model(
            db, settings=settings, user=None, encoder_key=encoder, params=synthetic.params()
        )
    with db.session() as session:
        [version] = models_q.list_model_versions(session)
        assert models_q.get_active_model(session) is None
    assert version.status == ModelStatus.FAILED and "simulated crash" in version.notes


def test_evaluate_model_on_held_out_and_reviewed(db, settings, synthetic):
    taxonomy, ids = synthetic.build(db, 40, frames=True)
    encoder = synthetic.encoder_key
    version = training.train_model(
        db, settings=settings, user=None, encoder_key=encoder, params=synthetic.params()
    )

    held_out = training.evaluate_model(db, settings=settings)
    assert held_out["n"] == version.n_valid and held_out["version_id"] == version.id
    assert held_out["violations"] == 0
    assert held_out["micro_auprc"] == pytest.approx(json.loads(version.metrics_json)["micro_auprc"])

    with pytest.raises(training.TrainingError, match="no reviewed"):
        training.evaluate_model(db, settings=settings, version_id=version.id, subset="reviewed")
    with db.session() as session:
        user = users_q.create_user(session, username="mod", password_hash="x")
        for video_id in ids[:3]:
            video = videos_q.get_video(session, video_id=video_id)
            review_rules.save_review(
                session,
                video_id=video_id,
                expected_version=video.version,
                node_ids=[taxonomy.find("Music: Rock").id],
                user=user,
            )
    reviewed = training.evaluate_model(db, settings=settings, subset="reviewed")
    assert reviewed["n"] == 3
    with pytest.raises(ValueError, match="held_out"):
        training.evaluate_model(db, settings=settings, subset="everything")


def test_training_uses_the_cached_encoder_version_with_most_videos(db, synthetic):
    synthetic.build(db, 12)
    settings = type("S", (), {"encoder": "fake"})()
    assert training.cached_encoder_key(db, settings) == ("fake", "v1")
    with pytest.raises(training.NotEnoughDataError, match="no videos have lite embeddings"):
        training.cached_encoder_key(db, type("S", (), {"encoder": "lite"})())


def test_default_params_scale_with_the_data():
    small, medium, large = (
        training.default_classifier_params(n)
        for n in (training.SMALL_DATA_VIDEOS, training.SMALL_DATA_VIDEOS + 1, 100_000)
    )
    # past the small-data limit the members stop sooner, but there are still three of them
    assert small["n_ensemble"] == medium["n_ensemble"] == 3 and large["n_ensemble"] == 1
    assert medium["max_epochs"] == large["max_epochs"] < small["max_epochs"]
    assert medium["patience"] == large["patience"] < small["patience"]
    assert training.default_classifier_params(training.ENSEMBLE_VIDEOS)["n_ensemble"] == 3
