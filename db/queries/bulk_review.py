"""What the bulk review modes ask about: the tag sweep's grid and binary mode's questions.

Both look only at videos nobody has reviewed yet (status ``predicted``) that no other moderator
holds and that are in the moderator's review languages, and at the predictions of each video's
current model. Answers are saved through the one review save (``core.review.save_review``);
nothing here writes.

A node's decision threshold is not stored: it is read back from the model's own decisions as the
midpoint between the lowest probability it predicted and the highest it did not (the threshold
lies in that gap), which needs no model file and follows every retrain. Tags without such a gap
(predicted for every video, or for none) are not asked about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, not_, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from db.queries import Actor
from db.queries import users as users_q
from db.queries.review import subtree_ids
from db.tables import Keyframe, Prediction, Video, VideoStatus, utcnow

SWEEP_ORDERS = ("doubtful", "confident")


@dataclass(frozen=True)
class SweepItem:
    """One thumbnail of the sweep grid."""

    video_id: int
    title: str
    version: int
    probability: float  # highest probability of the swept tag or any tag below it
    thumbnail: str | None  # first keyframe, relative to ``Settings.data_dir``


@dataclass(frozen=True)
class BinaryQuestion:
    """ "Is this video <node>?", for the video's current model."""

    video_id: int
    node_id: str
    probability: float
    threshold: float  # estimated from the model's decisions (see the module docstring)
    version: int
    title: str


def _open_for(session: Session, user: Actor, now: datetime) -> ColumnElement[bool]:
    """Unreviewed, claimed by nobody else, and in a language ``user`` reviews."""
    return and_(
        col(Video.status) == VideoStatus.PREDICTED,
        or_(
            col(Video.claimed_by).is_(None),
            col(Video.claim_expires_at).is_(None),
            col(Video.claim_expires_at) <= now,
            col(Video.claimed_by) == user.id,
        ),
        *users_q.language_route(session, user_id=user.id),
    )


def _current_prediction() -> ColumnElement[bool]:
    return and_(
        col(Prediction.video_id) == col(Video.id),
        col(Prediction.model_version_id) == col(Video.predicted_model_id),
    )


def sweep_candidates(
    session: Session,
    *,
    node_id: str,
    user: Actor,
    order: str = "doubtful",
    limit: int = 24,
    exclude_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> list[SweepItem]:
    """Unreviewed videos predicted for ``node_id`` or a tag below it (DAG-aware), least sure
    first (``doubtful``) or most sure first (``confident``)."""
    if order not in SWEEP_ORDERS:
        raise ValueError(f"unknown sweep order {order!r}; expected one of {SWEEP_ORDERS}")
    nodes = subtree_ids(session, node_id=node_id)
    best = func.max(col(Prediction.probability)).label("best")
    conds = [
        col(Prediction.node_id).in_(nodes),
        col(Prediction.is_predicted),
        _open_for(session, user, now or utcnow()),
    ]
    if exclude_ids:
        conds.append(col(Video.id).not_in(list(exclude_ids)))
    ranked = (
        select(col(Video.id).label("vid"), best)
        .join(Prediction, _current_prediction())
        .where(*conds)
        .group_by(col(Video.id))
        .order_by(best if order == "doubtful" else best.desc(), col(Video.id))
        .limit(limit)
        .subquery()
    )
    rows = session.exec(
        select(ranked.c.vid, ranked.c.best, Video.title, Video.version)
        .join(Video, col(Video.id) == ranked.c.vid)
        .order_by(ranked.c.best if order == "doubtful" else ranked.c.best.desc(), ranked.c.vid)
    ).all()
    thumbs = keyframe_thumbnails(session, video_ids=[row[0] for row in rows], per_video=1)
    return [
        SweepItem(
            video_id=vid,
            title=title,
            version=version,
            probability=p,
            thumbnail=thumbs[vid][0][1] if thumbs.get(vid) else None,
        )
        for vid, p, title, version in rows
    ]


def keyframe_thumbnails(
    session: Session, *, video_ids: Sequence[int], per_video: int
) -> dict[int, list[tuple[int, str]]]:
    """The first ``per_video`` keyframe thumbnails of each video as (keyframe index, path
    relative to the data directory), in one query."""
    if not video_ids:
        return {}
    rows = session.exec(
        select(Keyframe.video_id, Keyframe.idx, Keyframe.thumbnail_path)
        .where(col(Keyframe.video_id).in_(list(video_ids)), col(Keyframe.idx) < per_video)
        .order_by(col(Keyframe.video_id), col(Keyframe.idx))
    ).all()
    result: dict[int, list[tuple[int, str]]] = {}
    for video_id, index, path in rows:
        result.setdefault(video_id, []).append((index, path))
    return result


def binary_questions(
    session: Session,
    *,
    user: Actor,
    node_id: str | None = None,
    limit: int = 20,
    exclude_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> list[BinaryQuestion]:
    """The questions whose answers teach the model most: the (video, tag) pairs whose probability
    sits closest to the tag's threshold, one per video; ``node_id`` limits them to a subtree."""
    nodes = subtree_ids(session, node_id=node_id) if node_id else None
    scope = [col(Prediction.node_id).in_(nodes)] if nodes else []
    predicted_p = case((col(Prediction.is_predicted), col(Prediction.probability)))
    rejected_p = case((not_(col(Prediction.is_predicted)), col(Prediction.probability)))
    bounds = (
        select(
            col(Prediction.model_version_id).label("model_id"),
            col(Prediction.node_id).label("node"),
            func.min(predicted_p).label("lo"),
            func.max(rejected_p).label("hi"),
        )
        .where(*scope)
        .group_by(col(Prediction.model_version_id), col(Prediction.node_id))
        .subquery()
    )
    threshold = ((bounds.c.lo + bounds.c.hi) / 2).label("threshold")
    distance = func.abs(col(Prediction.probability) - threshold)
    # a tag the model predicted for every video (or for none) has no gap to read a threshold from
    conds = [*scope, bounds.c.lo.is_not(None), bounds.c.hi.is_not(None)]
    conds.append(_open_for(session, user, now or utcnow()))
    if exclude_ids:
        conds.append(col(Video.id).not_in(list(exclude_ids)))
    rows = session.exec(
        select(
            Video.id,
            Prediction.node_id,
            Prediction.probability,
            threshold,
            Video.version,
            Video.title,
        )
        .join(Prediction, _current_prediction())
        .join(
            bounds,
            and_(
                bounds.c.model_id == col(Prediction.model_version_id),
                bounds.c.node == col(Prediction.node_id),
            ),
        )
        .where(*conds)
        .order_by(distance, col(Video.id), col(Prediction.node_id))
        .limit(limit * 4)  # a video's nodes bunch up near its thresholds; keep one per video
    ).all()
    questions: dict[int, BinaryQuestion] = {}
    for video_id, node, p, t, version, title in rows:
        if video_id not in questions and len(questions) < limit:
            questions[video_id] = BinaryQuestion(video_id, node, p, t, version, title)
    return list(questions.values())
