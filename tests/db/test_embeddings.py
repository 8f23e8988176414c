"""Embedding cache: upsert, cache lookup by input hash, encoder-version isolation, matrices."""

from __future__ import annotations

import numpy as np
import pytest

from db.engine import Database
from db.queries import embeddings
from db.queries.embeddings import EmbeddingRecord


def _rec(
    video_id: int,
    modality: str,
    value: float,
    *,
    version: str = "1",
    input_hash: str = "h",
    dim: int = 4,
):
    return EmbeddingRecord(
        video_id, modality, "lite", version, input_hash, np.full(dim, value, dtype=np.float64)
    )


def test_put_get_and_replace(database: Database) -> None:
    with database.session() as session:
        embeddings.put_embeddings(
            session, records=[_rec(1, "title", 0.5), _rec(1, "audio", 1.5, dim=3)]
        )
        embeddings.put_embeddings(session, records=[_rec(1, "title", 2.0)])
    with database.session() as session:
        got = embeddings.get_embeddings(
            session, video_ids=[1, 2], encoder_id="lite", encoder_version="1"
        )
    assert set(got) == {1} and set(got[1]) == {"title", "audio"}
    assert got[1]["title"].dtype == np.float32
    np.testing.assert_array_equal(got[1]["title"], np.full(4, 2.0, dtype=np.float32))
    np.testing.assert_array_equal(got[1]["audio"], np.full(3, 1.5, dtype=np.float32))


def test_cache_lookup_and_version_isolation(database: Database) -> None:
    with database.session() as session:
        embeddings.put_embeddings(session, records=[_rec(1, "frames", 0.1, input_hash="content-1")])
        embeddings.put_embeddings(
            session, records=[_rec(1, "frames", 0.9, version="2", input_hash="content-1")]
        )
    with database.session() as session:
        hit = embeddings.find_cached(
            session,
            modality="frames",
            encoder_id="lite",
            encoder_version="1",
            input_hashes=["content-1", "other"],
        )
        assert set(hit) == {"content-1"}
        np.testing.assert_allclose(hit["content-1"], 0.1)
        assert embeddings.count_embeddings(session, encoder_id="lite", encoder_version="2") == {
            "frames": 1
        }
        assert (
            embeddings.find_cached(
                session,
                modality="audio",
                encoder_id="lite",
                encoder_version="1",
                input_hashes=["content-1"],
            )
            == {}
        )


def test_load_matrices_aligns_rows_and_masks_missing(database: Database) -> None:
    with database.session() as session:
        embeddings.put_embeddings(
            session,
            records=[
                _rec(3, "title", 3.0),
                _rec(1, "title", 1.0),
                _rec(1, "audio", 1.0, dim=2),
                _rec(9, "title", 9.0, version="2"),
            ],
        )
    with database.session() as session:
        m = embeddings.load_matrices(
            session, encoder_id="lite", encoder_version="1", modalities=["title", "audio", "frames"]
        )
    assert m.video_ids.tolist() == [1, 3]
    assert m.matrices["title"][:, 0].tolist() == [1.0, 3.0]
    assert m.matrices["audio"].shape == (2, 2)
    assert m.masks["audio"].tolist() == [True, False]
    assert "frames" not in m.matrices
    with database.session() as session:
        dims = embeddings.embedding_dims(
            session, encoder_id="lite", encoder_version="1", modalities=["frames", "audio", "title"]
        )
    assert list(dims.items()) == [("audio", 2), ("title", 4)]  # asked order; frames has none


def test_bad_vectors_are_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="NaN"), database.session() as session:
        embeddings.put_embeddings(session, records=[_rec(1, "title", float("nan"))])
    with pytest.raises(ValueError, match="1-D"), database.session() as session:
        embeddings.put_embeddings(
            session, records=[EmbeddingRecord(1, "title", "lite", "1", "h", np.zeros((2, 2)))]
        )


def test_delete_video_embeddings(database: Database) -> None:
    with database.session() as session:
        embeddings.put_embeddings(session, records=[_rec(1, "title", 1.0), _rec(2, "title", 2.0)])
        assert embeddings.delete_video_embeddings(session, video_id=1) == 1
    with database.session() as session:
        assert embeddings.count_embeddings(session) == {"title": 1}
