"""Lead review: leads sample moderators' reviews and accept, fix and accept, or reject them.

A rejected review goes back to its moderator: the video leaves ``reviewed`` (its labels stop
counting for training and export until it is reviewed again), is flagged with the lead's
comment, and is claimed for that moderator for ``REJECT_HOLD`` so "review next" hands it to
them first. Every verdict is a ``LeadReview`` row (per-moderator accuracy) and an audit entry;
the role is read from the database on every call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, func, update
from sqlmodel import Session, col, select

from db.queries import Actor, NotFoundError, dump_json
from db.queries import analytics as analytics_q
from db.queries.audit import add_audit
from db.queries.quality import LEAD_ROLES, QualityInputError, require_role
from db.tables import (
    AuditAction,
    LeadReview,
    LeadVerdict,
    OverlapAnswer,
    Role,
    User,
    Video,
    VideoStatus,
    utcnow,
)

SAMPLE_MODES = ("random", "disagree")
REJECT_HOLD = timedelta(days=7)


@dataclass(frozen=True)
class ReviewSample:
    video_id: int
    title: str
    moderator: str
    node_ids: list[str]
    version: int
    reason: str


@dataclass(frozen=True)
class ModeratorAccuracy:
    username: str
    judged: int  # lead verdicts on their reviews
    accepted: int
    fixed: int
    rejected: int
    label_f1: float | None  # mean F1 of their labels vs the final ones (verdicts and overlap)
    compared: int  # reviews and overlap answers behind label_f1


def _unjudged_moderator_reviews():
    """Reviewed videos whose reviewer is a moderator and has no verdict since the review."""
    judged = select(LeadReview.video_id).where(
        col(LeadReview.created_at) >= col(Video.reviewed_at),
        col(LeadReview.video_id) == col(Video.id),
    )
    return (
        select(Video, User.username)
        .join(User, col(User.id) == col(Video.reviewed_by))
        .where(
            col(Video.status) == VideoStatus.REVIEWED,
            col(User.role) == Role.MODERATOR,
            ~judged.exists(),
        )
    )


def sample(
    session: Session,
    *,
    user: Actor,
    mode: str,
    n: int = 10,
    model_version_id: int | None = None,
    min_confidence: float = analytics_q.DEFAULT_ERROR_CONFIDENCE,
) -> list[ReviewSample]:
    """Up to ``n`` unjudged moderator reviews: a random sample, or those the model (version
    ``model_version_id``) contradicts with at least ``min_confidence``, most confident first."""
    from core import review as review_rules  # core's rules over these queries

    require_role(session, user, LEAD_ROLES, "lead review")
    if mode not in SAMPLE_MODES:
        raise QualityInputError(f"unknown sample mode {mode!r}; expected one of {SAMPLE_MODES}")
    query = _unjudged_moderator_reviews()
    if mode == "random":
        rows = session.exec(query.order_by(func.random()).limit(n)).all()
        reasons = dict.fromkeys((v.id for v, _ in rows), "random")
    else:
        if model_version_id is None:
            raise QualityInputError("the 'disagree' sample needs a model version (none is active)")
        suspects = analytics_q.likely_label_errors(
            session, model_version_id=model_version_id, min_confidence=min_confidence
        )
        reasons: dict[int, str] = {}
        for s in suspects:
            kind = "model says missing" if s.kind == "missing" else "model doubts"
            reasons.setdefault(s.video_id, f"{kind}: {s.path} (p={s.probability:.2f})")
        rows = session.exec(query.where(col(Video.id).in_(list(reasons)))).all()
        order = {video_id: i for i, video_id in enumerate(reasons)}
        rows = sorted(rows, key=lambda r: order[r[0].id])[:n]
    labels = review_rules.effective_labels(session, video_ids=[v.id for v, _ in rows])
    return [
        ReviewSample(v.id, v.title, name, labels.get(v.id, []), v.version, reasons[v.id])
        for v, name in rows
    ]


def _judged_video(session: Session, video_id: int) -> tuple[Video, list[str]]:
    from core import review as review_rules  # core's rules over these queries

    video = session.get(Video, video_id, populate_existing=True)
    if video is None:
        raise NotFoundError(f"no video with id {video_id}")
    if video.status != VideoStatus.REVIEWED or video.reviewed_at is None:
        raise QualityInputError(f"video {video_id} has no review to judge (status {video.status})")
    before = review_rules.effective_labels(session, video_ids=[video_id]).get(video_id, [])
    return video, before


def _record(
    session: Session,
    *,
    video: Video,
    moderator_id: int | None,
    lead: Actor,
    verdict: str,
    before: Sequence[str],
    after: Sequence[str],
    comment: str = "",
) -> LeadReview:
    row = LeadReview(
        video_id=video.id,
        moderator_id=moderator_id,
        lead_id=lead.id,
        verdict=verdict,
        comment=comment,
        labels_before_json=dump_json(sorted(before)),
        labels_after_json=dump_json(sorted(after)),
    )
    session.add(row)
    add_audit(
        session,
        action=AuditAction.LEAD_REVIEW,
        user=lead,
        video_id=video.id,
        detail={
            "verdict": verdict,
            "moderator_id": moderator_id,
            "comment": comment,
            "before": sorted(before),
            "after": sorted(after),
        },
    )
    session.flush()
    return row


def accept(session: Session, *, video_id: int, user: Actor) -> LeadReview:
    require_role(session, user, LEAD_ROLES, "lead review")
    video, before = _judged_video(session, video_id)
    return _record(
        session,
        video=video,
        moderator_id=video.reviewed_by,
        lead=user,
        verdict=LeadVerdict.ACCEPTED,
        before=before,
        after=before,
    )


def fix(
    session: Session,
    *,
    video_id: int,
    expected_version: int,
    node_ids: Iterable[str],
    user: Actor,
    comment: str = "",
) -> LeadReview:
    """The lead's corrected labels replace the moderator's (an ordinary review save)."""
    from core import review as review_rules  # core's rules over these queries

    require_role(session, user, LEAD_ROLES, "lead review")
    video, before = _judged_video(session, video_id)
    moderator_id = video.reviewed_by
    after = sorted(set(node_ids))
    review_rules.save_review(
        session, video_id=video_id, expected_version=expected_version, node_ids=after, user=user
    )
    return _record(
        session,
        video=video,
        moderator_id=moderator_id,
        lead=user,
        verdict=LeadVerdict.FIXED,
        before=before,
        after=after,
        comment=comment.strip(),
    )


def reject(session: Session, *, video_id: int, comment: str, user: Actor) -> LeadReview:
    """Send the review back to its moderator with ``comment`` (required)."""
    require_role(session, user, LEAD_ROLES, "lead review")
    if not comment.strip():
        raise QualityInputError("a rejection needs a comment telling the moderator what to fix")
    video, before = _judged_video(session, video_id)
    now = utcnow()
    session.exec(
        update(Video)
        .where(col(Video.id) == video_id)
        .values(
            status=VideoStatus.PREDICTED
            if video.predicted_model_id is not None
            else VideoStatus.READY,
            reviewed_at=None,
            flagged=True,
            flag_reason=f"rejected by {user.username}: {comment.strip()}",
            claimed_by=video.reviewed_by,
            claim_expires_at=now + REJECT_HOLD,
            version=col(Video.version) + 1,
            updated_at=now,
        )
    )
    return _record(
        session,
        video=video,
        moderator_id=video.reviewed_by,
        lead=user,
        verdict=LeadVerdict.REJECTED,
        before=before,
        after=[],
        comment=comment.strip(),
    )


def _f1(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


def moderator_accuracy(session: Session, *, user: Actor) -> list[ModeratorAccuracy]:
    """Per moderator: lead verdicts on their reviews, and the F1 of their labels against the
    final ones (the lead's for accepted/fixed reviews, the adjudicated or agreed labels for
    their overlap answers)."""
    from core import review as review_rules  # core's rules over these queries

    require_role(session, user, LEAD_ROLES, "moderator accuracy")
    names = dict(session.exec(select(User.id, User.username)).all())
    stats: dict[int, dict] = {}

    def entry(user_id: int) -> dict:
        return stats.setdefault(user_id, {"verdicts": [], "f1": []})

    for row in session.exec(select(LeadReview)).all():
        if row.moderator_id is None:
            continue
        e = entry(row.moderator_id)
        e["verdicts"].append(row.verdict)
        if row.verdict != LeadVerdict.REJECTED:
            before = set(json.loads(row.labels_before_json))
            e["f1"].append(_f1(before, set(json.loads(row.labels_after_json))))
    answers = session.exec(
        select(OverlapAnswer)
        .join(Video, col(Video.id) == col(OverlapAnswer.video_id))
        .where(and_(col(Video.reviewed_at).is_not(None)))
    ).all()
    final = review_rules.effective_labels(session, video_ids=sorted({a.video_id for a in answers}))
    for a in answers:
        entry(a.user_id)["f1"].append(
            _f1(set(json.loads(a.node_ids_json)), set(final.get(a.video_id, [])))
        )
    return [
        ModeratorAccuracy(
            username=names.get(user_id, f"#{user_id}"),
            judged=len(e["verdicts"]),
            accepted=e["verdicts"].count(LeadVerdict.ACCEPTED),
            fixed=e["verdicts"].count(LeadVerdict.FIXED),
            rejected=e["verdicts"].count(LeadVerdict.REJECTED),
            label_f1=sum(e["f1"]) / len(e["f1"]) if e["f1"] else None,
            compared=len(e["f1"]),
        )
        for user_id, e in sorted(stats.items(), key=lambda kv: names.get(kv[0], ""))
    ]
