"""Everything the HTTP API shows about one video, read in one unit of work: the video, its stored
prediction with each tag's place in the taxonomy, and its labels with who set them and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from db.queries import taxonomy as taxonomy_q
from db.queries.labels import get_labels
from db.queries.model_versions import get_predictions
from db.queries.videos import get_video
from db.tables import Label, TaxonomyEdge, User, Video


@dataclass(frozen=True)
class PredictedTag:
    node_id: str
    path: str
    probability: float
    predicted: bool  # above the model's decision threshold
    parent_ids: tuple[str, ...]  # parents that are in the stored prediction too


@dataclass(frozen=True)
class LabelInfo:
    node_id: str
    path: str
    source: str  # LabelSource
    created_by: str | None  # username
    created_at: datetime


@dataclass(frozen=True)
class VideoDetails:
    video: Video
    predictions: list[PredictedTag]  # highest probability first
    labels: list[LabelInfo]
    reviewed_by: str | None


def get_video_details(session: Session, *, video_id: int) -> VideoDetails:
    """Raises ``db.queries.NotFoundError`` for an unknown video."""
    video = get_video(session, video_id=video_id)
    stored = (
        get_predictions(session, video_id=video_id, model_version_id=video.predicted_model_id)
        if video.predicted_model_id is not None
        else []
    )
    labels: list[Label] = get_labels(session, video_id=video_id)
    node_ids = {p.node_id for p in stored} | {label.node_id for label in labels}
    paths = taxonomy_q.node_paths(session, node_ids=node_ids)
    in_prediction = {p.node_id for p in stored}
    parents: dict[str, list[str]] = {}
    if in_prediction:
        edges = session.exec(
            select(TaxonomyEdge.parent_id, TaxonomyEdge.child_id).where(
                col(TaxonomyEdge.child_id).in_(in_prediction)
            )
        )
        for parent, child in edges:
            if parent in in_prediction:
                parents.setdefault(child, []).append(parent)
    user_ids = {label.created_by for label in labels} | {video.reviewed_by}
    user_ids.discard(None)
    names = (
        dict(session.exec(select(User.id, User.username).where(col(User.id).in_(user_ids))).all())
        if user_ids
        else {}
    )
    return VideoDetails(
        video=video,
        predictions=[
            PredictedTag(
                node_id=p.node_id,
                path=paths.get(p.node_id, p.node_id),
                probability=p.probability,
                predicted=p.is_predicted,
                parent_ids=tuple(sorted(parents.get(p.node_id, ()))),
            )
            for p in stored
        ],
        labels=[
            LabelInfo(
                node_id=label.node_id,
                path=paths.get(label.node_id, label.node_id),
                source=label.source,
                created_by=names.get(label.created_by),
                created_at=label.created_at,
            )
            for label in labels
        ],
        reviewed_by=names.get(video.reviewed_by),
    )
