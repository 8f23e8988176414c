"""Label-quality queries: the overlap setting and the blind overlap answers.

The rules over them (who may read or write what, when answers become labels, what a dispute
is) live in ``core.quality``; these functions only read and write rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from db.queries import Actor, dump_json
from db.tables import OverlapAnswer, QualitySettings, User, Video, utcnow


@dataclass(frozen=True)
class OverlapConfig:
    share: float
    moderators: int


@dataclass(frozen=True)
class AnswerGroup:
    """The overlap answers of one unreviewed video, side by side."""

    video_id: int
    title: str
    version: int
    answers: dict[str, list[str]]  # username -> node ids


@dataclass(frozen=True)
class StoredAnswer:
    video_id: int
    username: str
    node_ids: list[str]
    answered_at: datetime


def stored_role(session: Session, *, user_id: int | None) -> str | None:
    """The user's role as stored, or None for an unknown or disabled account."""
    row = session.get(User, user_id) if user_id is not None else None
    return None if row is None or row.disabled else row.role


def get_overlap(session: Session) -> OverlapConfig:
    row = session.get(QualitySettings, 1)
    if row is None:
        return OverlapConfig(share=0.0, moderators=2)
    return OverlapConfig(share=row.overlap_share, moderators=row.overlap_moderators)


def store_overlap(
    session: Session, *, share: float, moderators: int, user_id: int | None
) -> OverlapConfig:
    """Write the overlap setting as given (``core.quality.set_overlap`` validates it)."""
    row = session.get(QualitySettings, 1) or QualitySettings(id=1)
    row.overlap_share, row.overlap_moderators = float(share), int(moderators)
    row.updated_by, row.updated_at = user_id, utcnow()
    session.add(row)
    session.flush()
    return get_overlap(session)


def answered_video_ids(session: Session, *, video_ids: Sequence[int]) -> set[int]:
    """Those of ``video_ids`` that have at least one overlap answer."""
    if not video_ids:
        return set()
    query = select(OverlapAnswer.video_id).where(col(OverlapAnswer.video_id).in_(set(video_ids)))
    return set(session.exec(query.distinct()))


def overlap_state(session: Session, *, video_id: int) -> tuple[float, bool]:
    """The overlap share, and whether the video has an overlap answer, in one query (the API
    asks it on every read of a video)."""
    share = select(QualitySettings.overlap_share).where(col(QualitySettings.id) == 1)
    answered = select(OverlapAnswer.video_id).where(col(OverlapAnswer.video_id) == video_id)
    row = session.exec(select(share.scalar_subquery(), exists(answered))).one()
    return (0.0 if row[0] is None else float(row[0])), bool(row[1])


def answers_by_user(session: Session, *, video_id: int) -> dict[int, list[str]]:
    """``{user id: node ids}`` of the video's overlap answers."""
    rows = session.exec(select(OverlapAnswer).where(OverlapAnswer.video_id == video_id)).all()
    return {row.user_id: json.loads(row.node_ids_json) for row in rows}


def get_answer(session: Session, *, video_id: int, user_id: int | None) -> list[str] | None:
    row = session.get(OverlapAnswer, (video_id, user_id))
    return None if row is None else json.loads(row.node_ids_json)


def store_answer(
    session: Session, *, video_id: int, user_id: int | None, node_ids: Sequence[str]
) -> None:
    """Store (or replace) one user's answer for the video."""
    row = session.get(OverlapAnswer, (video_id, user_id)) or OverlapAnswer(
        video_id=video_id, user_id=user_id
    )
    row.node_ids_json, row.answered_at = dump_json(list(node_ids)), utcnow()
    session.add(row)


def release_claim(session: Session, *, video_id: int, user_id: int | None) -> None:
    """Clear ``user_id``'s claim on the video (no-op when someone else holds it)."""
    session.exec(
        update(Video)
        .where(col(Video.id) == video_id, col(Video.claimed_by) == user_id)
        .values(claimed_by=None, claim_expires_at=None)
    )


def set_flag(session: Session, *, video_id: int, reason: str | None) -> None:
    """Flag the video with ``reason``, or clear its flag for None."""
    session.exec(
        update(Video)
        .where(col(Video.id) == video_id)
        .values(flagged=reason is not None, flag_reason=reason)
    )


def claim_exclusions(session: Session, *, user: Actor) -> list[ColumnElement[bool]]:
    """Conditions for "review next": never a video this user already answered, nor one whose
    overlap answers are all in (it waits for adjudication)."""
    needed = get_overlap(session).moderators
    full = (
        select(OverlapAnswer.video_id)
        .group_by(col(OverlapAnswer.video_id))
        .having(func.count() >= needed)
    )
    mine = select(OverlapAnswer.video_id).where(OverlapAnswer.user_id == user.id)
    return [col(Video.id).not_in(mine), col(Video.id).not_in(full)]


def unreviewed_answer_groups(session: Session) -> list[AnswerGroup]:
    """Every unreviewed video with overlap answers, its answers keyed by username."""
    rows = session.exec(
        select(OverlapAnswer, User.username, Video.title, Video.version)
        .join(User, col(User.id) == col(OverlapAnswer.user_id))
        .join(Video, col(Video.id) == col(OverlapAnswer.video_id))
        .where(col(Video.reviewed_at).is_(None))
        .order_by(col(OverlapAnswer.video_id), col(User.username))
    ).all()
    grouped: dict[int, AnswerGroup] = {}
    for answer, username, title, version in rows:
        group = grouped.setdefault(
            answer.video_id, AnswerGroup(answer.video_id, title, version, {})
        )
        group.answers[username] = json.loads(answer.node_ids_json)
    return list(grouped.values())


def count_settled_answered_videos(session: Session) -> int:
    """Videos with overlap answers that have their final labels (agreed, or adjudicated)."""
    query = (
        select(func.count(func.distinct(OverlapAnswer.video_id)))
        .join(Video, col(Video.id) == col(OverlapAnswer.video_id))
        .where(col(Video.reviewed_at).is_not(None))
    )
    return int(session.exec(query).one())


def list_answers(session: Session) -> list[StoredAnswer]:
    """Every overlap answer with its author, for agreement reports (callers check the role:
    the dashboard shows them to leads and admins only)."""
    rows = session.exec(
        select(OverlapAnswer, User.username)
        .join(User, col(User.id) == col(OverlapAnswer.user_id))
        .order_by(col(OverlapAnswer.answered_at))
    ).all()
    return [
        StoredAnswer(a.video_id, username, json.loads(a.node_ids_json), a.answered_at)
        for a, username in rows
    ]


def reviewed_video_answers(
    session: Session, *, user_id: int | None = None
) -> list[tuple[int, int, list[str]]]:
    """``(video id, user id, node ids)`` of every overlap answer whose video has final labels
    (or of ``user_id``'s answers)."""
    query = (
        select(OverlapAnswer)
        .join(Video, col(Video.id) == col(OverlapAnswer.video_id))
        .where(col(Video.reviewed_at).is_not(None))
    )
    if user_id is not None:
        query = query.where(col(OverlapAnswer.user_id) == user_id)
    rows = session.exec(query).all()
    return [(a.video_id, a.user_id, json.loads(a.node_ids_json)) for a in rows]
