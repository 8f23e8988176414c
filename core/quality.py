"""Label-quality rules: the overlap setting, blind overlap answers, adjudication, and the
admin's retraining policy setting.

Overlap: a share of the unreviewed videos (chosen by a hash of the video id, so the choice is
stable and needs no stored list) is reviewed by ``overlap_moderators`` moderators before any
answer becomes a label. A moderator's save of such a video stores an overlap answer, not
labels: the video stays in the queue for others, and nobody but its author can read an answer
(:func:`get_answer`) until a lead or an admin adjudicates (:func:`list_disputes`). Identical
answers from everyone become the labels at once; differing ones wait for :func:`adjudicate`,
whose labels are ordinary human labels (training and export read them like any review).

Roles are read from the database here, not trusted from the caller, so a rule cannot be talked
into showing answers to a moderator. Every function takes an open ``Session``: the caller's unit
of work makes the whole rule atomic. The rows are read and written by ``db.queries.quality``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import Session

from core import review as review_rules
from core.errors import TaggerError
from db.queries import Actor, NotFoundError
from db.queries import labels as labels_q
from db.queries import quality as quality_q
from db.queries import retrain_policy as policy_q
from db.queries import review as review_q
from db.queries import videos as video_q
from db.queries.audit import add_audit
from db.queries.quality import AnswerGroup, OverlapConfig
from db.tables import AuditAction, RetrainPolicy, Role, Video

MAX_OVERLAP_MODERATORS = 5
LEAD_ROLES = (Role.LEAD.value, Role.ADMIN.value)
RETRAIN_MODES = ("on_demand", "schedule", "after_labels")


class QualityPermissionError(TaggerError):
    """The user's role (as stored) does not allow this label-quality action."""


class QualityInputError(TaggerError, ValueError):
    """An overlap, lead-review or retraining setting or action that cannot be applied as given."""


class OverlapClosedError(TaggerError):
    """The overlap video already has all its answers (or final labels); nothing was written."""


@dataclass(frozen=True)
class AnswerResult:
    """What a moderator's save of an overlap video did."""

    answers: int  # answers stored for the video now
    needed: int
    outcome: str  # "waiting" (more answers needed), "agreed" (labels written), "disputed"


def require_role(session: Session, user: Actor, roles: Iterable[str], what: str) -> None:
    """Raise unless ``user``'s stored role is one of ``roles`` (``what`` names the action)."""
    role = quality_q.stored_role(session, user_id=user.id)
    if role is None:
        raise QualityPermissionError(f"{user.username} is not an active user")
    if role not in set(roles):
        raise QualityPermissionError(
            f"{what} needs the {' or '.join(roles)} role; {user.username} is {role}"
        )


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
    config = quality_q.store_overlap(
        session,
        share=share,
        moderators=moderators,
        user_id=user.id if user is not None else None,
    )
    add_audit(
        session,
        action=AuditAction.QUALITY_SETTINGS,
        user=user,
        detail={"overlap_share": share, "overlap_moderators": moderators},
    )
    session.flush()
    return config


def in_overlap(video_id: int, share: float) -> bool:
    """Whether the video belongs to the overlap share (stable: a hash of its id)."""
    digest = hashlib.sha256(f"overlap:{video_id}".encode()).digest()[:8]
    return int.from_bytes(digest, "big") / 2**64 < share


def is_overlap_video(session: Session, *, video_id: int) -> bool:
    """A never reviewed video in the overlap share, or an unreviewed one with overlap answers
    (a review sent back or rejected is redone by its moderator alone)."""
    video = review_q.reload_video(session, video_id=video_id)
    if video is None:
        raise NotFoundError(f"no video with id {video_id}")
    return is_answered_blind(session, video)


def is_answered_blind(session: Session, video: Video) -> bool:
    """:func:`is_overlap_video` of a video just read (one query; none once it is reviewed)."""
    if video.reviewed_at is not None:
        return False
    share, answered = quality_q.overlap_state(session, video_id=video.id)
    return _in_overlap_now(video, {video.id} if answered else set(), share)


def overlap_video_ids(session: Session, *, video_ids: Sequence[int]) -> set[int]:
    """Those of ``video_ids`` that :func:`is_overlap_video` (missing ones left out), read in
    three queries however many there are: a sweep page saves 24 at once."""
    share = quality_q.get_overlap(session).share
    answered = quality_q.answered_video_ids(session, video_ids=video_ids)
    return {
        video.id
        for video in video_q.get_videos(session, video_ids=video_ids)
        if _in_overlap_now(video, answered, share)
    }


def _in_overlap_now(video: Video, answered: set[int], share: float) -> bool:
    if video.reviewed_at is not None:
        return False
    return video.id in answered or (video.reviewed_by is None and in_overlap(video.id, share))


def save_labels(
    session: Session,
    *,
    video_id: int,
    expected_version: int,
    node_ids: Iterable[str],
    user: Actor,
    overlap: bool | None = None,
) -> None:
    """A moderator's labels for a video: the blind answer of an overlap video, else an ordinary
    review save, which raises ``StaleVersionError`` when the video changed since
    ``expected_version``. ``overlap`` says which, when the caller knows it already (a page of
    saves: :func:`overlap_video_ids`); otherwise it is looked up (:func:`is_overlap_video`)."""
    if overlap is None:
        overlap = is_overlap_video(session, video_id=video_id)
    if overlap:
        submit_answer(session, video_id=video_id, node_ids=node_ids, user=user)
    else:
        review_rules.save_review(
            session,
            video_id=video_id,
            expected_version=expected_version,
            node_ids=node_ids,
            user=user,
        )


def submit_answer(
    session: Session, *, video_id: int, node_ids: Iterable[str], user: Actor
) -> AnswerResult:
    """Store (or replace) ``user``'s blind answer; when enough answers are in, identical ones
    become the video's labels and differing ones are flagged for adjudication."""
    wanted = sorted(set(node_ids))
    labels_q.check_node_ids(session, node_ids=wanted)
    video = review_q.reload_video(session, video_id=video_id)
    if video is None:
        raise NotFoundError(f"no video with id {video_id}")
    if video.reviewed_at is not None:
        raise OverlapClosedError(f"video {video_id} already has final labels")
    needed = quality_q.get_overlap(session).moderators
    answers = quality_q.answers_by_user(session, video_id=video_id)
    if user.id not in answers and len(answers) >= needed:
        raise OverlapClosedError(
            f"video {video_id} already has its {needed} answers and waits for adjudication"
        )
    quality_q.store_answer(session, video_id=video_id, user_id=user.id, node_ids=wanted)
    answers[user.id] = wanted
    # the moderator is done with it: release the claim so the next moderator can take it
    quality_q.release_claim(session, video_id=video_id, user_id=user.id)
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
            quality_q.set_flag(
                session,
                video_id=video_id,
                reason=f"overlap: {len(answers)} answers differ; waiting for a lead",
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
    return quality_q.get_answer(session, video_id=video_id, user_id=target)


@dataclass(frozen=True)
class OverlapProgress:
    """Where the overlap videos that have answers stand."""

    waiting: int  # fewer answers than asked for, all alike so far: no labels yet
    disputed: int  # answers that differ: a lead sets the labels (:func:`list_disputes`)
    settled: int  # final labels: the answers agreed, or a lead adjudicated


def list_disputes(session: Session, *, user: Actor) -> list[AnswerGroup]:
    """Unadjudicated overlap videos whose answers differ, every answer side by side."""
    require_role(session, user, LEAD_ROLES, "adjudication")
    return [g for g in quality_q.unreviewed_answer_groups(session) if _answers_differ(g)]


def overlap_progress(session: Session, *, user: Actor) -> OverlapProgress:
    """How many answered overlap videos wait for answers, for a lead, or are settled."""
    require_role(session, user, LEAD_ROLES, "the overlap's progress")
    open_groups = quality_q.unreviewed_answer_groups(session)
    disputed = sum(1 for group in open_groups if _answers_differ(group))
    return OverlapProgress(
        waiting=len(open_groups) - disputed,
        disputed=disputed,
        settled=quality_q.count_settled_answered_videos(session),
    )


def _answers_differ(group: AnswerGroup) -> bool:
    return len(group.answers) >= 2 and len({tuple(a) for a in group.answers.values()}) > 1


def adjudicate(
    session: Session, *, video_id: int, expected_version: int, node_ids: Iterable[str], user: Actor
) -> Video:
    """A lead's or admin's final labels for a disputed video (human labels; unflags it)."""
    require_role(session, user, LEAD_ROLES, "adjudication")
    answers = quality_q.answers_by_user(session, video_id=video_id)
    review_rules.save_review(
        session, video_id=video_id, expected_version=expected_version, node_ids=node_ids, user=user
    )
    quality_q.set_flag(session, video_id=video_id, reason=None)
    add_audit(
        session,
        action=AuditAction.ADJUDICATED,
        user=user,
        video_id=video_id,
        detail={"final": sorted(set(node_ids)), "answers": {str(k): v for k, v in answers.items()}},
    )
    session.flush()
    return review_q.reload_video(session, video_id=video_id)


def set_retrain_policy(
    session: Session,
    *,
    mode: str,
    every_hours: float,
    after_labels: int,
    min_gain: float,
    user: Actor | None,
) -> RetrainPolicy:
    """The admin's retraining policy (``core.lifecycle.retrain_policy`` applies it). ``user``
    None is the operator at the command line; a dashboard user must be an admin."""
    if user is not None:
        require_role(session, user, (Role.ADMIN.value,), "changing the retraining policy")
    if mode not in RETRAIN_MODES:
        raise QualityInputError(f"unknown retrain mode {mode!r}; expected one of {RETRAIN_MODES}")
    if every_hours <= 0 or after_labels < 1:
        raise QualityInputError("every_hours must be > 0 and after_labels >= 1")
    if not -1.0 <= min_gain <= 1.0:
        raise QualityInputError(f"min_gain is in AU(PRC) points, between -1 and 1; got {min_gain}")
    policy = policy_q.store_policy(
        session,
        mode=mode,
        every_hours=every_hours,
        after_labels=after_labels,
        min_gain=min_gain,
        user_id=user.id if user is not None else None,
    )
    add_audit(
        session,
        action=AuditAction.RETRAIN_POLICY,
        user=user,
        detail={
            "mode": mode,
            "every_hours": every_hours,
            "after_labels": after_labels,
            "min_gain": min_gain,
        },
    )
    session.flush()
    return policy
