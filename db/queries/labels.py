"""Labels: imported ground truth and human reviews, stored per video and source.

Which labels count for a video (its effective labels) and what saving a review writes are
decided in ``core.review``; these are the reads and writes it uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, update
from sqlmodel import Session, col, select

from db.queries import Actor, UnknownNodeError
from db.queries.taxonomy import get_nodes_by_ids
from db.tables import Label, LabelSource, Video, VideoStatus, utcnow


def check_node_ids(session: Session, *, node_ids: Iterable[str]) -> None:
    """Raise :class:`UnknownNodeError` naming tag ids that are not in the stored taxonomy."""
    wanted = set(node_ids)
    unknown = wanted - set(get_nodes_by_ids(session, node_ids=list(wanted)))
    if unknown:
        raise UnknownNodeError(f"unknown tag id(s): {sorted(unknown)[:10]}")


def get_labels(session: Session, *, video_id: int, source: str | None = None) -> list[Label]:
    query = select(Label).where(Label.video_id == video_id)
    if source is not None:
        query = query.where(Label.source == str(source))
    return list(session.exec(query.order_by(col(Label.node_id))))


def reviewed_video_ids(session: Session, *, video_ids: Sequence[int] | None = None) -> list[int]:
    """Ids of the videos a human has reviewed (``Video.reviewed_at`` set); with ``video_ids``,
    among those only."""
    query = select(Video.id).where(col(Video.reviewed_at).is_not(None))
    if video_ids is not None:
        if not video_ids:
            return []
        query = query.where(col(Video.id).in_(set(video_ids)))
    return list(session.exec(query))


def label_pairs(
    session: Session,
    *,
    source_if_reviewed: str,
    source_if_not_reviewed: str,
    video_ids: Sequence[int] | None = None,
) -> list[tuple[int, str]]:
    """``(video_id, node_id)`` of the labels of one source on reviewed videos and of another on
    videos not yet reviewed (one query); with ``video_ids``, on those videos only."""
    reviewed = col(Video.reviewed_at).is_not(None)
    query = (
        select(Label.video_id, Label.node_id)
        .join(Video, col(Video.id) == col(Label.video_id))
        .where(
            or_(
                and_(col(Label.source) == str(source_if_reviewed), reviewed),
                and_(col(Label.source) == str(source_if_not_reviewed), ~reviewed),
            )
        )
    )
    if video_ids is not None:
        if not video_ids:
            return []
        query = query.where(col(Label.video_id).in_(set(video_ids)))
    return [(video_id, node_id) for video_id, node_id in session.exec(query)]


def import_labels(session: Session, *, labels: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    """Add ``(video_id, node_id)`` imported labels, skipping ones already stored; returns the
    pairs actually added."""
    wanted = set(labels)
    if not wanted:
        return []
    check_node_ids(session, node_ids=(node for _, node in wanted))
    video_ids = {video_id for video_id, _ in wanted}
    existing = set(
        session.exec(
            select(Label.video_id, Label.node_id).where(
                col(Label.video_id).in_(video_ids), col(Label.source) == LabelSource.IMPORT
            )
        )
    )
    new = sorted(wanted - {(v, n) for v, n in existing})
    if new:  # plain rows, not ORM objects: an import adds thousands per batch
        now = utcnow()
        session.connection().execute(
            Label.__table__.insert(),
            [
                {"video_id": v, "node_id": n, "source": LabelSource.IMPORT, "created_at": now}
                for v, n in new
            ],
        )
    return new


def delete_labels(session: Session, *, labels: Iterable[tuple[int, str]], source: str) -> None:
    """Remove the given ``(video_id, node_id)`` labels of one source (undoing an import)."""
    by_video: dict[int, list[str]] = {}
    for video_id, node_id in labels:
        by_video.setdefault(video_id, []).append(node_id)
    for video_id, node_ids in by_video.items():
        session.exec(
            delete(Label).where(
                col(Label.video_id) == video_id,
                col(Label.source) == str(source),
                col(Label.node_id).in_(node_ids),
            )
        )


def mark_reviewed(
    session: Session, *, video_id: int, expected_version: int, user: Actor, now: datetime
) -> int | None:
    """Mark the video reviewed by ``user`` (claim released, version bumped, review rank
    cleared) in one conditional update, only while its version is ``expected_version``; the new
    version, or None. The rank was the video's place in the unreviewed pool, which it leaves:
    if it returns to the queue (a lead's reject, a second review) it waits unranked, like a
    newly predicted video, until the next pool-wide ranking places it."""
    bumped = session.exec(
        update(Video)
        .where(col(Video.id) == video_id, col(Video.version) == expected_version)
        .values(
            version=col(Video.version) + 1,
            reviewed_by=user.id,
            reviewed_at=now,
            status=VideoStatus.REVIEWED,
            claimed_by=None,
            claim_expires_at=None,
            review_rank=None,
            updated_at=now,
        )
        .returning(col(Video.version))
    ).all()
    return bumped[0][0] if bumped else None


def replace_human_labels(
    session: Session, *, video_id: int, node_ids: Iterable[str], user: Actor, now: datetime
) -> None:
    """Make the video's human labels exactly ``node_ids`` (labels kept stay as they were)."""
    wanted = set(node_ids)
    human = {
        label.node_id for label in get_labels(session, video_id=video_id, source=LabelSource.HUMAN)
    }
    if human - wanted:
        session.exec(
            delete(Label).where(
                col(Label.video_id) == video_id,
                col(Label.source) == LabelSource.HUMAN,
                col(Label.node_id).in_(human - wanted),
            )
        )
    session.add_all(
        [
            Label(
                video_id=video_id,
                node_id=node,
                source=LabelSource.HUMAN,
                created_by=user.id,
                created_at=now,
            )
            for node in sorted(wanted - human)
        ]
    )
    session.flush()


def count_labelled_videos(session: Session, *, source_if_not_reviewed: str) -> int:
    """Videos a human has reviewed plus videos not yet reviewed with labels of
    ``source_if_not_reviewed``: the count of ``core.review.effective_labels`` in one query."""
    imported = (
        select(Label.video_id)
        .where(
            col(Label.video_id) == col(Video.id), col(Label.source) == str(source_if_not_reviewed)
        )
        .exists()
    )
    query = (
        select(func.count())
        .select_from(Video)
        .where(or_(col(Video.reviewed_at).is_not(None), imported))
    )
    return session.exec(query).one()


def count_labels(session: Session, *, source: str | None = None) -> int:
    query = select(func.count()).select_from(Label)
    if source is not None:
        query = query.where(Label.source == str(source))
    return session.exec(query).one()
