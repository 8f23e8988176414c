"""Labels: imported ground truth, human reviews, and the effective label set of each video.

A human review is authoritative for its video once ``Video.reviewed_at`` is set, even when it
leaves the video with no tags; before that the imported labels count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import and_, delete, func, or_, update
from sqlmodel import Session, col, select

from db.queries import Actor, NotFoundError, StaleVersionError, UnknownNodeError
from db.queries.audit import add_audit
from db.queries.taxonomy import get_nodes_by_ids
from db.queries.webhooks import enqueue_video_event
from db.tables import AuditAction, Label, LabelSource, Video, VideoStatus, WebhookEvent, utcnow


def _check_nodes(session: Session, node_ids: Iterable[str]) -> None:
    wanted = set(node_ids)
    unknown = wanted - set(get_nodes_by_ids(session, node_ids=list(wanted)))
    if unknown:
        raise UnknownNodeError(f"unknown tag id(s): {sorted(unknown)[:10]}")


def get_labels(session: Session, *, video_id: int, source: str | None = None) -> list[Label]:
    query = select(Label).where(Label.video_id == video_id)
    if source is not None:
        query = query.where(Label.source == str(source))
    return list(session.exec(query.order_by(col(Label.node_id))))


def effective_labels(
    session: Session, *, video_ids: Sequence[int] | None = None
) -> dict[int, list[str]]:
    """``{video_id: sorted node ids}`` for labelled videos: human labels if reviewed, else imported.

    Reviewed videos appear even with an empty list (a confirmed "no tags"); videos with neither a
    review nor imported labels are absent (unlabelled). With ``video_ids``, only those.
    """
    reviewed = col(Video.reviewed_at).is_not(None)
    query = (
        select(Label.video_id, Label.node_id)
        .join(Video, col(Video.id) == col(Label.video_id))
        .where(
            or_(
                and_(col(Label.source) == LabelSource.HUMAN, reviewed),
                and_(col(Label.source) == LabelSource.IMPORT, ~reviewed),
            )
        )
    )
    reviewed_query = select(Video.id).where(reviewed)
    if video_ids is not None:
        ids = set(video_ids)
        if not ids:
            return {}
        query = query.where(col(Label.video_id).in_(ids))
        reviewed_query = reviewed_query.where(col(Video.id).in_(ids))
    result: dict[int, list[str]] = {video_id: [] for video_id in session.exec(reviewed_query)}
    for video_id, node_id in session.exec(query):
        result.setdefault(video_id, []).append(node_id)
    return {video_id: sorted(nodes) for video_id, nodes in sorted(result.items())}


def import_labels(session: Session, *, labels: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    """Add ``(video_id, node_id)`` imported labels, skipping ones already stored; returns the
    pairs actually added."""
    wanted = set(labels)
    if not wanted:
        return []
    _check_nodes(session, (node for _, node in wanted))
    video_ids = {video_id for video_id, _ in wanted}
    existing = set(
        session.exec(
            select(Label.video_id, Label.node_id).where(
                col(Label.video_id).in_(video_ids), col(Label.source) == LabelSource.IMPORT
            )
        )
    )
    new = sorted(wanted - {(v, n) for v, n in existing})
    session.add_all([Label(video_id=v, node_id=n, source=LabelSource.IMPORT) for v, n in new])
    session.flush()
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


def save_review(
    session: Session, *, video_id: int, expected_version: int, node_ids: Iterable[str], user: Actor
) -> Video:
    """Replace the video's human labels with ``node_ids`` and mark it reviewed, atomically.

    Refuses with :class:`StaleVersionError` (writing nothing) when ``Video.version`` is no longer
    ``expected_version``. Writes one ``label_add``/``label_remove`` audit row per change against
    the previous effective labels, and one ``review_saved`` row, and queues the
    ``video.reviewed`` webhook event in the same transaction.
    """
    wanted = set(node_ids)
    _check_nodes(session, wanted)
    previous = set(effective_labels(session, video_ids=[video_id]).get(video_id, []))
    now = utcnow()
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
            updated_at=now,
        )
        .returning(col(Video.version))
    ).all()
    if not bumped:
        current = session.get(Video, video_id, populate_existing=True)
        if current is None:
            raise NotFoundError(f"no video with id {video_id}")
        raise StaleVersionError(
            f"video {video_id} was changed by someone else (version {current.version}, "
            f"you edited version {expected_version}); reload it"
        )
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
    added, removed = sorted(wanted - previous), sorted(previous - wanted)
    for node in added:
        add_audit(session, action=AuditAction.LABEL_ADD, user=user, video_id=video_id, node_id=node)
    for node in removed:
        add_audit(
            session, action=AuditAction.LABEL_REMOVE, user=user, video_id=video_id, node_id=node
        )
    add_audit(
        session,
        action=AuditAction.REVIEW_SAVED,
        user=user,
        video_id=video_id,
        detail={
            "node_ids": sorted(wanted),
            "added": added,
            "removed": removed,
            "version": bumped[0][0],
        },
    )
    enqueue_video_event(session, event=WebhookEvent.VIDEO_REVIEWED, video_id=video_id)
    session.flush()
    return session.get(Video, video_id, populate_existing=True)


def count_labels(session: Session, *, source: str | None = None) -> int:
    query = select(func.count()).select_from(Label)
    if source is not None:
        query = query.where(Label.source == str(source))
    return session.exec(query).one()
