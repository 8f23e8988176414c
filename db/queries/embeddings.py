"""Embedding cache: one float32 vector per (video, modality, encoder id, encoder version).

``input_hash`` identifies what was encoded (content hash for media, text hash for text), so a
re-ingest or a duplicate upload reuses stored vectors via :func:`find_cached`; a new encoder
version simply has no rows yet and never touches the old version's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, tuple_
from sqlmodel import Session, col, select

from db.tables import Embedding

_IDS_PER_QUERY = 500  # bound on one IN list


@dataclass(frozen=True)
class EmbeddingRecord:
    video_id: int
    modality: str
    encoder_id: str
    encoder_version: str
    input_hash: str
    vector: np.ndarray  # 1-D, stored as float32


@dataclass(frozen=True)
class EmbeddingMatrices:
    """Training/prediction input: row i of every matrix belongs to ``video_ids[i]``.

    ``masks[m][i]`` is False where video i has no ``m`` embedding; that row of
    ``matrices[m]`` is zeros and must be ignored (the classifier masks the modality token).
    """

    video_ids: np.ndarray  # (n,) int64
    matrices: dict[str, np.ndarray]  # modality -> (n, dim) float32
    masks: dict[str, np.ndarray]  # modality -> (n,) bool


def _to_bytes(vector: np.ndarray) -> tuple[bytes, int]:
    array = np.asarray(vector, dtype=np.float32)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"an embedding must be a non-empty 1-D vector, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("an embedding contains NaN or infinity")
    return array.tobytes(), int(array.size)


def _from_bytes(data: bytes, dim: int) -> np.ndarray:
    vector = np.frombuffer(data, dtype=np.float32)
    if vector.size != dim:
        raise ValueError(f"stored embedding has {vector.size} values, expected {dim}")
    return vector


def put_embeddings(session: Session, *, records: Sequence[EmbeddingRecord]) -> int:
    """Insert or replace embeddings (same video, modality, encoder id and version)."""
    if not records:
        return 0
    rows = {}
    for r in records:
        data, dim = _to_bytes(r.vector)
        rows[(r.video_id, r.modality, r.encoder_id, r.encoder_version)] = Embedding(
            video_id=r.video_id,
            modality=r.modality,
            encoder_id=r.encoder_id,
            encoder_version=r.encoder_version,
            input_hash=r.input_hash,
            dim=dim,
            vector=data,
        )
    key = tuple_(
        Embedding.video_id, Embedding.modality, Embedding.encoder_id, Embedding.encoder_version
    )
    session.exec(delete(Embedding).where(key.in_(list(rows))))
    session.add_all(list(rows.values()))
    session.flush()
    return len(rows)


def get_embeddings(
    session: Session,
    *,
    video_ids: Sequence[int],
    encoder_id: str,
    encoder_version: str,
    modalities: Sequence[str] | None = None,
) -> dict[int, dict[str, np.ndarray]]:
    """``{video_id: {modality: vector}}`` for the given videos and encoder version."""
    if not video_ids:
        return {}
    query = select(Embedding.video_id, Embedding.modality, Embedding.vector, Embedding.dim).where(
        col(Embedding.video_id).in_(set(video_ids)),
        Embedding.encoder_id == encoder_id,
        Embedding.encoder_version == encoder_version,
    )
    if modalities is not None:
        query = query.where(col(Embedding.modality).in_(list(modalities)))
    result: dict[int, dict[str, np.ndarray]] = {}
    for video_id, modality, data, dim in session.exec(query):
        result.setdefault(video_id, {})[modality] = _from_bytes(data, dim)
    return result


def embedded_video_ids(
    session: Session, *, video_ids: Sequence[int], encoder_id: str, encoder_version: str
) -> set[int]:
    """Those of ``video_ids`` that have vectors of this encoder version (no vectors loaded)."""
    wanted = sorted(set(video_ids))
    found: set[int] = set()
    for start in range(0, len(wanted), _IDS_PER_QUERY):
        query = (
            select(Embedding.video_id)
            .distinct()
            .where(
                col(Embedding.video_id).in_(wanted[start : start + _IDS_PER_QUERY]),
                Embedding.encoder_id == encoder_id,
                Embedding.encoder_version == encoder_version,
            )
        )
        found.update(session.exec(query))
    return found


def find_cached(
    session: Session,
    *,
    modality: str,
    encoder_id: str,
    encoder_version: str,
    input_hashes: Sequence[str],
) -> dict[str, np.ndarray]:
    """``{input_hash: vector}`` for inputs some video already has an embedding of."""
    if not input_hashes:
        return {}
    query = select(Embedding.input_hash, Embedding.vector, Embedding.dim).where(
        Embedding.modality == modality,
        Embedding.encoder_id == encoder_id,
        Embedding.encoder_version == encoder_version,
        col(Embedding.input_hash).in_(set(input_hashes)),
    )
    return {input_hash: _from_bytes(data, dim) for input_hash, data, dim in session.exec(query)}


def load_matrices(
    session: Session,
    *,
    encoder_id: str,
    encoder_version: str,
    modalities: Sequence[str],
    video_ids: Sequence[int] | None = None,
) -> EmbeddingMatrices:
    """All embeddings of one encoder version as aligned matrices (videos with at least one)."""
    query = select(Embedding.video_id, Embedding.modality, Embedding.vector, Embedding.dim).where(
        Embedding.encoder_id == encoder_id,
        Embedding.encoder_version == encoder_version,
        col(Embedding.modality).in_(list(modalities)),
    )
    if video_ids is not None:
        query = query.where(col(Embedding.video_id).in_(set(video_ids)))
    by_video: dict[int, dict[str, np.ndarray]] = {}
    dims: dict[str, int] = {}
    for video_id, modality, data, dim in session.exec(query):
        known = dims.setdefault(modality, dim)
        if known != dim:
            raise ValueError(
                f"{modality} embeddings of {encoder_id} {encoder_version} "
                f"mix dims {known} and {dim}"
            )
        by_video.setdefault(video_id, {})[modality] = _from_bytes(data, dim)
    ids = np.array(sorted(by_video), dtype=np.int64)
    matrices, masks = {}, {}
    for modality in modalities:
        if modality not in dims:
            continue
        matrix = np.zeros((len(ids), dims[modality]), dtype=np.float32)
        mask = np.zeros(len(ids), dtype=bool)
        for i, video_id in enumerate(ids.tolist()):
            vector = by_video[video_id].get(modality)
            if vector is not None:
                matrix[i], mask[i] = vector, True
        matrices[modality], masks[modality] = matrix, mask
    return EmbeddingMatrices(video_ids=ids, matrices=matrices, masks=masks)


def embedding_dims(
    session: Session, *, encoder_id: str, encoder_version: str, modalities: Sequence[str]
) -> dict[str, int]:
    """``{modality: dim}`` of the given modalities that have vectors of this encoder version, in
    the order of ``modalities``: a fixed layout for matrices read in batches, where a batch may
    lack a modality altogether."""
    query = (
        select(Embedding.modality, Embedding.dim)
        .where(
            Embedding.encoder_id == encoder_id,
            Embedding.encoder_version == encoder_version,
            col(Embedding.modality).in_(list(modalities)),
        )
        .distinct()
    )
    found = dict(session.exec(query).all())
    return {m: found[m] for m in modalities if m in found}


def count_embeddings(
    session: Session, *, encoder_id: str | None = None, encoder_version: str | None = None
) -> dict[str, int]:
    """``{modality: count}``, optionally for one encoder (version)."""
    query = select(Embedding.modality, func.count()).group_by(Embedding.modality)
    if encoder_id is not None:
        query = query.where(Embedding.encoder_id == encoder_id)
    if encoder_version is not None:
        query = query.where(Embedding.encoder_version == encoder_version)
    return {modality: n for modality, n in session.exec(query)}


def encoder_versions(session: Session, *, encoder_id: str) -> list[tuple[str, int]]:
    """``[(encoder_version, videos with vectors)]`` of one encoder, most videos first."""
    query = (
        select(Embedding.encoder_version, func.count(func.distinct(Embedding.video_id)))
        .where(Embedding.encoder_id == encoder_id)
        .group_by(Embedding.encoder_version)
        .order_by(func.count(func.distinct(Embedding.video_id)).desc(), Embedding.encoder_version)
    )
    return [(version, n) for version, n in session.exec(query)]


def delete_video_embeddings(session: Session, *, video_id: int) -> int:
    """Drop a video's vectors (all encoders), e.g. when its file was replaced."""
    result = session.exec(delete(Embedding).where(col(Embedding.video_id) == video_id))
    return result.rowcount
