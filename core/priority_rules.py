"""Rules that send the videos the model gives a sensitive tag to review sooner.

An admin says "when the active model gives *Sensitive Topics: Terrorism* at least 0.5, the video
is urgent" (or high); the videos the active model has already predicted that way are raised at
once, and every prediction it stores from then on raises the matching videos that are not
reviewed yet, with the tag and its probability as the reason the moderator reads.
A rule never lowers a priority (a platform's or a lead's urgent stays urgent), and a video
already at the rule's level keeps its place among equals. Every raise, and every rule added or
removed, is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from core import review
from core.errors import TaggerError
from core.taxonomy import resolve_tags
from db.queries import Actor
from db.queries import audit as audit_q
from db.queries import model_versions as models_q
from db.queries import priority_rules as rules_q
from db.queries import review as review_q
from db.queries import taxonomy as taxonomy_q
from db.tables import (
    PREDICTION_FLOOR,
    AuditAction,
    PriorityRule,
    ReviewPriority,
    Video,
    VideoStatus,
    utcnow,
)

_DONE = (VideoStatus.REVIEWED.value, VideoStatus.FAILED.value)  # nothing left to review sooner


class PriorityRuleError(TaggerError, ValueError):
    """A rule that cannot be kept: a level that raises nothing, a probability out of range."""


@dataclass(frozen=True)
class AddedRule:
    rule: PriorityRule
    raised: int  # videos the active model had predicted that way, raised at once


def add_rule(
    session: Session, *, tag: str, min_probability: float, level: ReviewPriority, user: Actor | None
) -> AddedRule:
    """A rule for ``tag`` (a path or an id) at ``level`` (high or urgent) from
    ``min_probability`` on (at least the floor under which predictions are not stored), applied
    at once to the active model's stored predictions."""
    if level == ReviewPriority.NORMAL:
        raise PriorityRuleError("a rule raises videos to high or urgent; normal raises nothing")
    if not PREDICTION_FLOOR <= min_probability <= 1:
        raise PriorityRuleError(
            f"the probability must be between {PREDICTION_FLOOR} (predictions below it are not "
            f"stored) and 1, got {min_probability}"
        )
    [node_id] = resolve_tags(session, [tag])
    rule = rules_q.add_rule(
        session,
        node_id=node_id,
        min_probability=min_probability,
        priority=int(level),
        user_id=user.id if user is not None else None,
    )
    audit_q.add_audit(
        session,
        action=AuditAction.PRIORITY_RULE_ADDED,
        user=user,
        node_id=node_id,
        detail={"min_probability": min_probability, "priority": review.priority_name(level)},
    )
    active = models_q.get_active_model(session)
    if active is None:
        return AddedRule(rule=rule, raised=0)
    found = rules_q.matches(session, model_version_id=active.id, video_ids=None, rules=[rule])
    return AddedRule(rule=rule, raised=_raise(session, found))


def remove_rule(session: Session, *, rule_id: int, user: Actor | None) -> PriorityRule:
    """Delete a rule (the priorities it raised stay as they are)."""
    rule = rules_q.remove_rule(session, rule_id=rule_id)
    audit_q.add_audit(
        session,
        action=AuditAction.PRIORITY_RULE_REMOVED,
        user=user,
        node_id=rule.node_id,
        detail={
            "min_probability": rule.min_probability,
            "priority": review.priority_name(rule.priority),
        },
    )
    return rule


def apply_rules(session: Session, *, model_version_id: int, video_ids: Sequence[int]) -> int:
    """Raise the videos whose new prediction by ``model_version_id`` matches a rule, when that
    version is the active one (a version being tried out decides nothing); among several
    matching rules the highest level wins, then the most probable tag. Returns how many videos
    were raised."""
    rules = rules_q.list_rules(session)  # usually none: one read per stored batch, no more
    if not rules:
        return 0
    active = models_q.get_active_model(session)
    if active is None or active.id != model_version_id:
        return 0
    found = rules_q.matches(
        session, model_version_id=model_version_id, video_ids=video_ids, rules=rules
    )
    return _raise(session, found)


def _raise(session: Session, found: Sequence[tuple[int, PriorityRule, float]]) -> int:
    """Raise each video of ``found`` (video, matching rule, probability) by its strongest rule
    when it is not reviewed and below that rule's level; how many were raised."""
    strongest: dict[int, tuple[PriorityRule, float]] = {}
    for video_id, rule, probability in found:
        held = strongest.get(video_id)
        if held is None or (rule.priority, probability) > (held[0].priority, held[1]):
            strongest[video_id] = (rule, probability)
    if not strongest:
        return 0
    below = session.exec(
        select(Video.id, Video.priority).where(
            col(Video.id).in_(list(strongest)), col(Video.status).not_in(_DONE)
        )
    ).all()
    tags = {rule.node_id for rule, _ in strongest.values()}
    paths = taxonomy_q.node_paths(session, node_ids=tags)
    raises: list[review_q.PriorityRaise] = []
    details: dict[int, dict[str, str]] = {}
    for video_id, priority in below:
        rule, probability = strongest[video_id]
        if priority >= rule.priority:
            continue
        raised = review_q.PriorityRaise(
            video_id=video_id,
            priority=ReviewPriority(rule.priority),
            reason=(
                f"the model gives {paths.get(rule.node_id, rule.node_id)} {probability:.2f} "
                f"(rule: from {rule.min_probability:.2f})"
            ),
        )
        raises.append(raised)
        details[video_id] = {  # as core.review.set_priority records a raise
            "priority": review.priority_name(raised.priority),
            "before": review.priority_name(priority),
            "reason": raised.reason,
        }
    now = utcnow()
    review_q.raise_priorities(session, raises=raises, at=now)
    audit_q.add_video_audits(session, action=AuditAction.PRIORITY_SET, details=details, at=now)
    return len(raises)
