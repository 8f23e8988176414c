"""Lead review: leads sample moderators' reviews and accept, fix and accept, or reject them.

A rejected review goes back to its moderator: the video leaves ``reviewed`` (its labels stop
counting for training and export until it is reviewed again), is flagged with the lead's
comment, and is claimed for that moderator for ``REJECT_HOLD`` so "review next" hands it to
them first. Every verdict is a ``LeadReview`` row (per-moderator accuracy) and an audit entry;
the role is read from the database on every call. The rows are read and written by
``db.queries.lead_review``. Moderators see the verdicts on their own reviews, with the lead's
comment and labels, and their own accuracy (:func:`own_work`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session

from core import review as review_rules
from core.quality import LEAD_ROLES, QualityInputError, require_role
from db.queries import Actor, NotFoundError
from db.queries import analytics as analytics_q
from db.queries import lead_review as lead_q
from db.queries import quality as quality_q
from db.queries import review as review_q
from db.queries.audit import add_audit
from db.tables import AuditAction, LeadReview, LeadVerdict, Video, VideoStatus, utcnow

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


@dataclass(frozen=True)
class Feedback:
    """A lead's verdict on one of the moderator's reviews, as the moderator sees it."""

    video_id: int
    title: str
    verdict: str  # LeadVerdict
    comment: str
    lead: str
    at: datetime
    yours: list[str]  # the moderator's labels (node ids)
    final: list[str]  # the lead's (== yours when accepted; empty when rejected)


@dataclass(frozen=True)
class OwnWork:
    """What a moderator sees of their own work (any signed-in account, its own rows only)."""

    reviews_per_day: list[tuple[date, int]]  # saved reviews per UTC day, oldest first
    accuracy: ModeratorAccuracy | None  # None: nothing judged or compared yet
    feedback: list[Feedback]  # newest first


def sample(
    session: Session,
    *,
    user: Actor,
    mode: str,
    n: int = 10,
    model_version_id: int | None = None,
    min_confidence: float = analytics_q.DEFAULT_ERROR_CONFIDENCE,
    moderator_id: int | None = None,
) -> list[ReviewSample]:
    """Up to ``n`` unjudged moderator reviews (of ``moderator_id``, e.g. someone new, or
    anyone's): a random sample, or those the model (version ``model_version_id``) contradicts
    with at least ``min_confidence``, most confident first."""
    require_role(session, user, LEAD_ROLES, "lead review")
    if mode not in SAMPLE_MODES:
        raise QualityInputError(f"unknown sample mode {mode!r}; expected one of {SAMPLE_MODES}")
    if mode == "random":
        rows = lead_q.random_unjudged(session, n=n, moderator_id=moderator_id)
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
        rows = lead_q.unjudged_among(session, video_ids=list(reasons), moderator_id=moderator_id)
        order = {video_id: i for i, video_id in enumerate(reasons)}
        rows = sorted(rows, key=lambda r: order[r[0].id])[:n]
    labels = review_rules.effective_labels(session, video_ids=[v.id for v, _ in rows])
    return [
        ReviewSample(v.id, v.title, name, labels.get(v.id, []), v.version, reasons[v.id])
        for v, name in rows
    ]


def unjudged_by_moderator(session: Session, *, user: Actor) -> list[tuple[int, str, int]]:
    """``(user id, username, unjudged reviews)`` of each moderator with reviews no lead has
    judged yet, by name (leads and admins)."""
    require_role(session, user, LEAD_ROLES, "lead review")
    return lead_q.unjudged_by_moderator(session)


def _judged_video(session: Session, video_id: int) -> tuple[Video, list[str]]:
    video = review_q.reload_video(session, video_id=video_id)
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
    row = lead_q.add_verdict(
        session,
        video_id=video.id,
        moderator_id=moderator_id,
        lead_id=lead.id,
        verdict=verdict,
        before=before,
        after=after,
        comment=comment,
    )
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
    lead_q.send_back(
        session,
        video=video,
        status=VideoStatus.PREDICTED if video.predicted_model_id is not None else VideoStatus.READY,
        flag_reason=f"rejected by {user.username}: {comment.strip()}",
        now=now,
        hold_until=now + REJECT_HOLD,
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
    require_role(session, user, LEAD_ROLES, "moderator accuracy")
    names = lead_q.usernames(session)
    return sorted(
        _accuracies(session, names=names).values(), key=lambda accuracy: accuracy.username
    )


def _accuracies(
    session: Session, *, names: dict[int, str], moderator_id: int | None = None
) -> dict[int, ModeratorAccuracy]:
    """:class:`ModeratorAccuracy` by user id, of every moderator judged or compared (or of
    ``moderator_id`` alone)."""
    verdicts: dict[int, list[str]] = {}
    scores: dict[int, list[float]] = {}
    for v in lead_q.list_verdicts(session, moderator_id=moderator_id):
        if v.moderator_id is None:
            continue
        verdicts.setdefault(v.moderator_id, []).append(v.verdict)
        scores.setdefault(v.moderator_id, [])
        if v.verdict != LeadVerdict.REJECTED:
            scores[v.moderator_id].append(_f1(set(v.labels_before), set(v.labels_after)))
    answers = quality_q.reviewed_video_answers(session, user_id=moderator_id)
    final = review_rules.effective_labels(session, video_ids=sorted({a[0] for a in answers}))
    for video_id, user_id, node_ids in answers:
        verdicts.setdefault(user_id, [])
        scores.setdefault(user_id, []).append(_f1(set(node_ids), set(final.get(video_id, []))))
    return {
        user_id: ModeratorAccuracy(
            username=names.get(user_id, f"#{user_id}"),
            judged=len(verdicts[user_id]),
            accepted=verdicts[user_id].count(LeadVerdict.ACCEPTED),
            fixed=verdicts[user_id].count(LeadVerdict.FIXED),
            rejected=verdicts[user_id].count(LeadVerdict.REJECTED),
            label_f1=sum(f1) / len(f1) if f1 else None,
            compared=len(f1),
        )
        for user_id, f1 in scores.items()
    }


def own_work(session: Session, *, user: Actor, days: int = 14, feedback_rows: int = 20) -> OwnWork:
    """The account's saved reviews per day over the last ``days`` UTC days, its accuracy as
    leads and overlap see it (:func:`moderator_accuracy`'s figures, for itself only), and the
    newest lead verdicts on its reviews with the lead's comment and labels, so a moderator
    learns from the corrections without a lead's rights."""
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    counts = {
        row.day: row.n_reviews
        for row in analytics_q.moderator_throughput(session, since=since, user_id=user.id)
    }
    accuracy = _accuracies(session, names={user.id: user.username}, moderator_id=user.id)
    feedback = [
        Feedback(
            video_id=row.video_id,
            title=title,
            verdict=row.verdict,
            comment=row.comment,
            lead=lead,
            at=row.created_at,
            yours=json.loads(row.labels_before_json),
            final=json.loads(row.labels_after_json),
        )
        for row, title, lead in lead_q.latest_verdicts_on(
            session, moderator_id=user.id, limit=feedback_rows
        )
    ]
    window = [first + timedelta(days=i) for i in range(days)]
    return OwnWork(
        reviews_per_day=[(day, counts.get(day, 0)) for day in window],
        accuracy=accuracy.get(user.id),
        feedback=feedback,
    )
