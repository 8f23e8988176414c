"""Label quality: the overlap setting, blind overlap answers, and adjudication.

Overlap: a share of the unreviewed videos (chosen by a hash of the video id, so the choice is
stable and needs no stored list) is reviewed by ``overlap_moderators`` moderators before any
answer becomes a label. A moderator's save of such a video stores an ``OverlapAnswer``, not
labels: the video stays in the queue for others, and nobody but its author can read an answer
(:func:`get_answer`) until a lead or an admin adjudicates (:func:`list_disputes`). Identical
answers from everyone become the labels at once; differing ones wait for :func:`adjudicate`,
whose labels are ordinary human labels (training and export read them like any review).

Roles are read from the database here, not trusted from the caller, so a query function cannot
be talked into showing answers to a moderator.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from db.queries import Actor, DatabaseError, NotFoundError, dump_json
from db.queries import labels as labels_q
from db.queries.audit import add_audit
from db.tables import AuditAction, OverlapAnswer, QualitySettings, Role, User, Video, utcnow

MAX_OVERLAP_MODERATORS = 5
LEAD_ROLES = (Role.LEAD.value, Role.ADMIN.value)


class QualityPermissionError(DatabaseError):
    """The user's role (as stored) does not allow this label-quality action."""


class QualityInputError(DatabaseError, ValueError):
    """An overlap, lead-review or retraining setting or action that cannot be applied as given."""


class OverlapClosedError(DatabaseError):
    """The overlap video already has all its answers (or final labels); nothing was written."""


@dataclass(frozen=True)
class OverlapConfig:
    share: float
    moderators: int


@dataclass(frozen=True)
class AnswerResult:
    """What a moderator's save of an overlap video did."""

    answers: int  # answers stored for the video now
    needed: int
    outcome: str  # "waiting" (more answers needed), "agreed" (labels written), "disputed"


@dataclass(frozen=True)
class Dispute:
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


def _role(session: Session, user: Actor) -> str:
    row = session.get(User, user.id) if user.id is not None else None
    if row is None or row.disabled:
        raise QualityPermissionError(f"{user.username} is not an active user")
    return row.role


def require_role(session: Session, user: Actor, roles: Iterable[str], what: str) -> None:
    """Raise unless ``user``'s stored role is one of ``roles`` (``what`` names the action)."""
    role = _role(session, user)
    if role not in set(roles):
        raise QualityPermissionError(
            f"{what} needs the lead or admin role; {user.username} is {role}"
        )


def get_overlap(session: Session) -> OverlapConfig:
    row = session.get(QualitySettings, 1)
    if row is None:
        return OverlapConfig(share=0.0, moderators=2)
    return OverlapConfig(share=row.overlap_share, moderators=row.overlap_moderators)


def set_overlap(
    session: Session, *, share: float, moderators: int, user: Actor | None
) -> OverlapConfig:
    """The admin's setting: ``share`` (0..1) of unreviewed videos, ``moderators`` answers each.

    ``user`` None is the operator at the command line (like ``tagger train``); a dashboard user
    must be an admin.
    """
    if user is not None:
        require_role(session, user, (Role.ADMIN.value,), "changing the overlap setting")
    if not 0.0 <= share <= 1.0:
        raise QualityInputError(f"overlap share must be between 0 and 1, got {share}")
    if not 2 <= moderators <= MAX_OVERLAP_MODERATORS:
        raise QualityInputError(
            f"moderators per overlap video must be 2 to {MAX_OVERLAP_MODERATORS}, got {moderators}"
        )
    row = session.get(QualitySettings, 1) or QualitySettings(id=1)
    row.overlap_share, row.overlap_moderators = float(share), int(moderators)
    row.updated_by, row.updated_at = (user.id if user is not None else None), utcnow()
    session.add(row)
    add_audit(
        session,
        action=AuditAction.QUALITY_SETTINGS,
        user=user,
        detail={"overlap_share": share, "overlap_moderators": moderators},
    )
    session.flush()
    return get_overlap(session)


def in_overlap(video_id: int, share: float) -> bool:
    """Whether the video belongs to the overlap share (stable: a hash of its id)."""
    digest = hashlib.sha256(f"overlap:{video_id}".encode()).digest()[:8]
    return int.from_bytes(digest, "big") / 2**64 < share


def is_overlap_video(session: Session, *, video_id: int) -> bool:
    """A never reviewed video in the overlap share, or an unreviewed one with overlap answers
    (a review sent back or rejected is redone by its moderator alone)."""
    video = session.get(Video, video_id)
    if video is None:
        raise NotFoundError(f"no video with id {video_id}")
    if video.reviewed_at is not None:
        return False
    has_answers = session.exec(
        select(func.count()).select_from(OverlapAnswer).where(OverlapAnswer.video_id == video_id)
    ).one()
    if has_answers:
        return True
    return video.reviewed_by is None and in_overlap(video_id, get_overlap(session).share)


def _answers(session: Session, video_id: int) -> dict[int, list[str]]:
    rows = session.exec(select(OverlapAnswer).where(OverlapAnswer.video_id == video_id)).all()
    return {row.user_id: json.loads(row.node_ids_json) for row in rows}


def submit_answer(
    session: Session, *, video_id: int, node_ids: Iterable[str], user: Actor
) -> AnswerResult:
    """Store (or replace) ``user``'s blind answer; when enough answers are in, identical ones
    become the video's labels and differing ones are flagged for adjudication."""
    from core import review as review_rules  # core's rules over these queries

    wanted = sorted(set(node_ids))
    labels_q.check_node_ids(session, node_ids=wanted)
    video = session.get(Video, video_id, populate_existing=True)
    if video is None:
        raise NotFoundError(f"no video with id {video_id}")
    if video.reviewed_at is not None:
        raise OverlapClosedError(f"video {video_id} already has final labels")
    needed = get_overlap(session).moderators
    answers = _answers(session, video_id)
    if user.id not in answers and len(answers) >= needed:
        raise OverlapClosedError(
            f"video {video_id} already has its {needed} answers and waits for adjudication"
        )
    row = session.get(OverlapAnswer, (video_id, user.id)) or OverlapAnswer(
        video_id=video_id, user_id=user.id
    )
    row.node_ids_json, row.answered_at = dump_json(wanted), utcnow()
    session.add(row)
    answers[user.id] = wanted
    # the moderator is done with it: release the claim so the next moderator can take it
    session.exec(
        update(Video)
        .where(col(Video.id) == video_id, col(Video.claimed_by) == user.id)
        .values(claimed_by=None, claim_expires_at=None)
    )
    add_audit(
        session,
        action=AuditAction.OVERLAP_ANSWER,
        user=user,
        video_id=video_id,
        detail={"node_ids": wanted, "answers": len(answers), "needed": needed},
    )
    outcome = "waiting"
    if len(answers) >= needed:
        if all(a == wanted for a in answers.values()):
            review_rules.save_review(
                session,
                video_id=video_id,
                expected_version=video.version,
                node_ids=wanted,
                user=user,
            )
            add_audit(session, action=AuditAction.OVERLAP_AGREED, user=user, video_id=video_id)
            outcome = "agreed"
        else:
            session.exec(
                update(Video)
                .where(col(Video.id) == video_id)
                .values(
                    flagged=True,
                    flag_reason=f"overlap: {len(answers)} answers differ; waiting for a lead",
                )
            )
            outcome = "disputed"
    session.flush()
    return AnswerResult(answers=len(answers), needed=needed, outcome=outcome)


def get_answer(
    session: Session, *, video_id: int, user: Actor, of_user_id: int | None = None
) -> list[str] | None:
    """An answer's tags. Anyone reads their own; another moderator's only a lead or an admin."""
    target = user.id if of_user_id is None else of_user_id
    if target != user.id:
        require_role(session, user, LEAD_ROLES, "reading another moderator's overlap answer")
    row = session.get(OverlapAnswer, (video_id, target))
    return None if row is None else json.loads(row.node_ids_json)


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


def list_disputes(session: Session, *, user: Actor) -> list[Dispute]:
    """Unadjudicated overlap videos whose answers differ, every answer side by side."""
    require_role(session, user, LEAD_ROLES, "adjudication")
    rows = session.exec(
        select(OverlapAnswer, User.username, Video.title, Video.version)
        .join(User, col(User.id) == col(OverlapAnswer.user_id))
        .join(Video, col(Video.id) == col(OverlapAnswer.video_id))
        .where(col(Video.reviewed_at).is_(None))
        .order_by(col(OverlapAnswer.video_id), col(User.username))
    ).all()
    grouped: dict[int, Dispute] = {}
    for answer, username, title, version in rows:
        dispute = grouped.setdefault(answer.video_id, Dispute(answer.video_id, title, version, {}))
        dispute.answers[username] = json.loads(answer.node_ids_json)
    return [
        d
        for d in grouped.values()
        if len(d.answers) >= 2 and len({tuple(a) for a in d.answers.values()}) > 1
    ]


def adjudicate(
    session: Session, *, video_id: int, expected_version: int, node_ids: Iterable[str], user: Actor
) -> Video:
    """A lead's or admin's final labels for a disputed video (human labels; unflags it)."""
    from core import review as review_rules  # core's rules over these queries

    require_role(session, user, LEAD_ROLES, "adjudication")
    answers = _answers(session, video_id)
    review_rules.save_review(
        session, video_id=video_id, expected_version=expected_version, node_ids=node_ids, user=user
    )
    session.exec(
        update(Video).where(col(Video.id) == video_id).values(flagged=False, flag_reason=None)
    )
    add_audit(
        session,
        action=AuditAction.ADJUDICATED,
        user=user,
        video_id=video_id,
        detail={"final": sorted(set(node_ids)), "answers": {str(k): v for k, v in answers.items()}},
    )
    session.flush()
    return session.get(Video, video_id, populate_existing=True)


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
