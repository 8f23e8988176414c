"""Read-only aggregates for the analytics page: label distribution, moderator throughput, how
long high and urgent videos waited for their review, model-vs-human disagreement per tag and
likely label errors.

Label sets are compared closed upward (a ``Sports: Soccer`` label implies ``Sports``), the same
convention as the hierarchical metrics. The closure is a small (node, ancestor) table sent as
``VALUES`` so the heavy joins and counts run inside the database on both backends.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import String, and_, column, func, literal, values
from sqlalchemy.sql import Values
from sqlmodel import Session, col, select

from db.queries import NotFoundError
from db.queries import taxonomy as taxonomy_q
from db.tables import (
    AuditAction,
    AuditLog,
    Label,
    LabelSource,
    Prediction,
    ReviewPriority,
    TaxonomyEdge,
    TaxonomyNode,
    User,
    Video,
)

DEFAULT_ERROR_CONFIDENCE = 0.9


@dataclass(frozen=True)
class TagCount:
    node_id: str
    path: str
    name: str
    n_videos: int
    has_children: bool


@dataclass(frozen=True)
class ThroughputRow:
    day: date
    username: str
    n_reviews: int


@dataclass(frozen=True)
class TagDisagreement:
    """Predicted vs human on reviewed videos for one tag (both sides closed upward)."""

    node_id: str
    path: str
    n_both: int
    n_model_only: int  # model said yes, moderators no (false positives)
    n_human_only: int  # moderators said yes, model no (misses)

    @property
    def disagreement(self) -> int:
        return self.n_model_only + self.n_human_only

    @property
    def f1(self) -> float:
        denom = 2 * self.n_both + self.n_model_only + self.n_human_only
        return 2 * self.n_both / denom if denom else 0.0


@dataclass(frozen=True)
class LabelSuspect:
    """A human-reviewed video where the model confidently disagrees about one tag.

    ``kind`` is ``missing`` (model is sure the tag applies, the review lacks it) or ``doubtful``
    (the review has the tag, the model is sure it does not apply).
    """

    video_id: int
    title: str
    node_id: str
    path: str
    kind: str
    probability: float
    reviewed_by: int | None
    reviewed_at: datetime | None


def _ancestors(session: Session) -> dict[str, set[str]]:
    """node -> itself and all its ancestors."""
    parents: dict[str, list[str]] = {}
    for parent, child in session.exec(select(TaxonomyEdge.parent_id, TaxonomyEdge.child_id)):
        parents.setdefault(child, []).append(parent)
    closure: dict[str, set[str]] = {}

    def up(node: str) -> set[str]:
        if node not in closure:
            closure[node] = {node}
            for parent in parents.get(node, ()):
                closure[node] |= up(parent)
        return closure[node]

    for node in session.exec(select(TaxonomyNode.id)):
        up(node)
    return closure


def _closure_table(session: Session) -> Values:
    pairs = [(node, anc) for node, ancs in _ancestors(session).items() for anc in sorted(ancs)]
    if not pairs:
        pairs = [("", "")]  # an empty taxonomy: a one-row table that matches no label
    return values(column("node_id", String), column("ancestor_id", String), name="closure").data(
        pairs
    )


def label_distribution(
    session: Session, *, parent_id: str | None = None, source: str | None = None
) -> list[TagCount]:
    """Videos labelled under each child of ``parent_id`` (tier 1 when None), most first.

    ``source`` restricts to ``human`` or ``import`` labels; None counts either.
    """
    if parent_id is None:
        children = list(session.exec(select(TaxonomyNode).where(col(TaxonomyNode.level) == 1)))
    else:
        if session.get(TaxonomyNode, parent_id) is None:
            raise NotFoundError(f"no taxonomy node with id {parent_id}")
        child_ids = select(TaxonomyEdge.child_id).where(TaxonomyEdge.parent_id == parent_id)
        children = list(
            session.exec(select(TaxonomyNode).where(col(TaxonomyNode.id).in_(child_ids)))
        )
    if not children:
        return []
    with_children = set(
        session.exec(
            select(TaxonomyEdge.parent_id)
            .where(col(TaxonomyEdge.parent_id).in_([c.id for c in children]))
            .distinct()
        )
    )
    closure = _closure_table(session)
    query = (
        select(closure.c.ancestor_id, func.count(func.distinct(Label.video_id)))
        .select_from(Label)
        .join(closure, closure.c.node_id == col(Label.node_id))
        .where(closure.c.ancestor_id.in_([c.id for c in children]))
        .group_by(closure.c.ancestor_id)
    )
    if source is not None:
        query = query.where(col(Label.source) == str(source))
    counts = dict(session.exec(query).all())
    result = [
        TagCount(
            node_id=c.id,
            path=c.path,
            name=c.name,
            n_videos=counts.get(c.id, 0),
            has_children=c.id in with_children,
        )
        for c in children
    ]
    return sorted(result, key=lambda t: (-t.n_videos, t.path))


def moderator_throughput(
    session: Session, *, since: datetime, user_id: int | None = None
) -> list[ThroughputRow]:
    """Saved reviews per moderator (or of ``user_id`` alone) per UTC day since ``since``, from
    the audit trail, under each account's current name (a renamed moderator's days before the
    rename count with the days after)."""
    query = (
        select(AuditLog.created_at, func.coalesce(User.username, AuditLog.username))
        .outerjoin(User, col(User.id) == col(AuditLog.user_id))
        .where(col(AuditLog.action) == AuditAction.REVIEW_SAVED, col(AuditLog.created_at) >= since)
    )
    if user_id is not None:
        query = query.where(col(AuditLog.user_id) == user_id)
    rows = session.exec(query).all()
    counts: dict[tuple[date, str], int] = {}
    for created_at, username in rows:
        key = (created_at.date(), username or "?")
        counts[key] = counts.get(key, 0) + 1
    return [ThroughputRow(day=d, username=u, n_reviews=n) for (d, u), n in sorted(counts.items())]


@dataclass(frozen=True)
class PriorityTurnaround:
    priority: ReviewPriority
    reviewed: int  # videos of this priority reviewed in the period
    median_s: float | None  # from the priority being raised to the review; None: none reviewed
    p90_s: float | None
    target_s: float  # the team's promise for this priority
    within_target: int  # of ``reviewed``, those reviewed within it


def priority_turnaround(
    session: Session, *, since: datetime, targets: Mapping[ReviewPriority, float]
) -> list[PriorityTurnaround]:
    """Urgent, then high videos reviewed since ``since``: how long each waited from being
    raised to its review, and how many within the team's promise (``targets``, seconds per
    level). Videos raised after their review (sent back later) are left out."""
    waits: dict[ReviewPriority, list[float]] = {ReviewPriority.URGENT: [], ReviewPriority.HIGH: []}
    rows = session.exec(
        select(Video.priority, Video.prioritized_at, Video.reviewed_at).where(
            col(Video.priority) > ReviewPriority.NORMAL,
            col(Video.reviewed_at) >= since,
            col(Video.reviewed_at) >= col(Video.prioritized_at),
        )
    )
    for level, raised_at, reviewed_at in rows:
        waits[ReviewPriority(level)].append((reviewed_at - raised_at).total_seconds())
    return [
        PriorityTurnaround(
            priority=level,
            reviewed=len(seconds),
            median_s=statistics.median(seconds) if seconds else None,
            p90_s=_percentile(seconds, 0.9) if seconds else None,
            target_s=targets[level],
            within_target=sum(1 for waited in seconds if waited <= targets[level]),
        )
        for level, seconds in waits.items()
    ]


def _percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile: a wait some video really had."""
    ordered = sorted(values)
    rank = math.ceil(round(q * len(ordered), 9))  # rounded: 0.9 * 30 is 27.000000000000004
    return ordered[max(rank, 1) - 1]


def _human_closed(session: Session, closure: Values):
    return (
        select(col(Label.video_id).label("video_id"), closure.c.ancestor_id.label("node_id"))
        .join(closure, closure.c.node_id == col(Label.node_id))
        .join(Video, col(Video.id) == col(Label.video_id))
        .where(col(Label.source) == LabelSource.HUMAN, col(Video.status) == "reviewed")
        .distinct()
        .subquery("human")
    )


def _predicted(model_version_id: int):
    return (
        select(col(Prediction.video_id).label("video_id"), col(Prediction.node_id).label("node_id"))
        .join(Video, col(Video.id) == col(Prediction.video_id))
        .where(
            col(Prediction.model_version_id) == model_version_id,
            col(Prediction.is_predicted),
            col(Video.status) == "reviewed",
        )
        .subquery("predicted")
    )


def disagreement_by_tag(
    session: Session, *, model_version_id: int, limit: int = 50
) -> list[TagDisagreement]:
    """Tags where ``model_version_id`` and the moderators disagree most on reviewed videos.

    Only videos that have predictions from that model count.
    """
    closure = _closure_table(session)
    human = _human_closed(session, closure)
    predicted = _predicted(model_version_id)
    scored = (
        select(Prediction.video_id)
        .where(col(Prediction.model_version_id) == model_version_id)
        .distinct()
    )
    human_scored = (
        select(human.c.video_id, human.c.node_id).where(human.c.video_id.in_(scored)).subquery("hs")
    )
    both = (
        select(human_scored.c.node_id, func.count().label("n"))
        .join(
            predicted,
            and_(
                predicted.c.video_id == human_scored.c.video_id,
                predicted.c.node_id == human_scored.c.node_id,
            ),
        )
        .group_by(human_scored.c.node_id)
    )
    n_human = select(human_scored.c.node_id, func.count()).group_by(human_scored.c.node_id)
    n_pred = select(predicted.c.node_id, func.count()).group_by(predicted.c.node_id)
    both_counts = dict(session.exec(both).all())
    human_counts = dict(session.exec(n_human).all())
    pred_counts = dict(session.exec(n_pred).all())
    nodes = set(human_counts) | set(pred_counts)
    paths = taxonomy_q.node_paths(session, node_ids=nodes)
    result = []
    for node in nodes:
        tp = both_counts.get(node, 0)
        result.append(
            TagDisagreement(
                node_id=node,
                path=paths.get(node, node),
                n_both=tp,
                n_model_only=pred_counts.get(node, 0) - tp,
                n_human_only=human_counts.get(node, 0) - tp,
            )
        )
    result.sort(key=lambda t: (-t.disagreement, t.path))
    return [t for t in result if t.disagreement > 0][:limit]


def likely_label_errors(
    session: Session,
    *,
    model_version_id: int,
    min_confidence: float = DEFAULT_ERROR_CONFIDENCE,
    limit: int = 200,
) -> list[LabelSuspect]:
    """Reviewed videos where the model is at least ``min_confidence`` sure a review is wrong.

    ``missing``: probability >= min_confidence for a tag outside the (closed) review, reported at
    the most specific such tag. ``doubtful``: a tag the moderator chose whose probability is
    <= 1 - min_confidence (absent predictions count as below the storage floor, i.e. ~0).
    Most confident first.
    """
    if not 0.5 < min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in (0.5, 1], got {min_confidence}")
    closure = _closure_table(session)
    human = _human_closed(session, closure)
    reviewed = and_(col(Video.status) == "reviewed", col(Video.predicted_model_id).is_not(None))
    missing_rows = session.exec(
        select(Prediction.video_id, Prediction.node_id, Prediction.probability)
        .join(Video, col(Video.id) == col(Prediction.video_id))
        .outerjoin(
            human,
            and_(
                human.c.video_id == col(Prediction.video_id),
                human.c.node_id == col(Prediction.node_id),
            ),
        )
        .where(
            reviewed,
            col(Prediction.model_version_id) == model_version_id,
            col(Prediction.probability) >= min_confidence,
            human.c.node_id.is_(None),
        )
    ).all()
    ancestors = _ancestors(session)
    by_video: dict[int, dict[str, float]] = {}
    for video_id, node_id, p in missing_rows:
        by_video.setdefault(video_id, {})[node_id] = p
    suspects: list[tuple[int, str, str, float]] = []
    for video_id, nodes in by_video.items():
        covered = {anc for node in nodes for anc in ancestors.get(node, {node}) if anc != node}
        suspects += [
            (video_id, node, "missing", p) for node, p in nodes.items() if node not in covered
        ]
    scored = (
        select(Prediction.video_id)
        .where(col(Prediction.model_version_id) == model_version_id)
        .distinct()
    )
    prob = func.coalesce(Prediction.probability, literal(0.0))
    doubtful_rows = session.exec(
        select(Label.video_id, Label.node_id, prob)
        .join(Video, col(Video.id) == col(Label.video_id))
        .outerjoin(
            Prediction,
            and_(
                col(Prediction.video_id) == col(Label.video_id),
                col(Prediction.node_id) == col(Label.node_id),
                col(Prediction.model_version_id) == model_version_id,
            ),
        )
        .where(
            reviewed,
            col(Label.source) == LabelSource.HUMAN,
            col(Label.video_id).in_(scored),
            prob <= 1.0 - min_confidence,
        )
    ).all()
    suspects += [(video_id, node, "doubtful", p) for video_id, node, p in doubtful_rows]
    suspects.sort(key=lambda s: (-(s[3] if s[2] == "missing" else 1.0 - s[3]), s[0], s[1]))
    suspects = suspects[:limit]
    video_ids = {s[0] for s in suspects}
    videos = (
        {v.id: v for v in session.exec(select(Video).where(col(Video.id).in_(video_ids)))}
        if video_ids
        else {}
    )
    node_ids = {s[1] for s in suspects}
    paths = taxonomy_q.node_paths(session, node_ids=node_ids)
    return [
        LabelSuspect(
            video_id=video_id,
            title=videos[video_id].title,
            node_id=node,
            path=paths.get(node, node),
            kind=kind,
            probability=float(p),
            reviewed_by=videos[video_id].reviewed_by,
            reviewed_at=videos[video_id].reviewed_at,
        )
        for video_id, node, kind, p in suspects
    ]
