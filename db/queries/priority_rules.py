"""The rules that raise a video's review priority from the model's prediction (``priority_rule``)
and the predictions they match."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_
from sqlmodel import Session, col, delete, select

from db.queries import DuplicateError, NotFoundError
from db.tables import Prediction, PriorityRule


def list_rules(session: Session) -> list[PriorityRule]:
    """Every rule, the most urgent first, then by tag."""
    return list(
        session.exec(
            select(PriorityRule).order_by(
                col(PriorityRule.priority).desc(), col(PriorityRule.node_id)
            )
        )
    )


def add_rule(
    session: Session, *, node_id: str, min_probability: float, priority: int, user_id: int | None
) -> PriorityRule:
    """A new rule for a tag that has none (``DuplicateError`` otherwise: remove it first)."""
    if session.exec(select(PriorityRule).where(col(PriorityRule.node_id) == node_id)).first():
        raise DuplicateError(f"tag {node_id} already has a priority rule; remove it first")
    rule = PriorityRule(
        node_id=node_id, min_probability=min_probability, priority=priority, created_by=user_id
    )
    session.add(rule)
    session.flush()
    return rule


def remove_rule(session: Session, *, rule_id: int) -> PriorityRule:
    """Delete the rule; the removed row (``NotFoundError`` for an unknown id)."""
    rule = session.get(PriorityRule, rule_id)
    if rule is None:
        raise NotFoundError(f"no priority rule with id {rule_id}")
    session.exec(delete(PriorityRule).where(col(PriorityRule.id) == rule_id))
    return rule


def matches(
    session: Session,
    *,
    model_version_id: int,
    video_ids: Sequence[int] | None,
    rules: Sequence[PriorityRule],
) -> list[tuple[int, PriorityRule, float]]:
    """``(video id, rule, probability)`` for each stored prediction of the version that gives
    one of ``rules``'s tags at least its probability, among ``video_ids`` (None: every video it
    predicted)."""
    if not rules or (video_ids is not None and not video_ids):
        return []
    by_node = {rule.node_id: rule for rule in rules}
    among = [] if video_ids is None else [col(Prediction.video_id).in_(list(video_ids))]
    rows = session.exec(
        select(Prediction.video_id, Prediction.node_id, Prediction.probability).where(
            col(Prediction.model_version_id) == model_version_id,
            *among,
            or_(
                *(
                    and_(
                        col(Prediction.node_id) == rule.node_id,
                        col(Prediction.probability) >= rule.min_probability,
                    )
                    for rule in rules
                )
            ),
        )
    )
    return [(video_id, by_node[node_id], probability) for video_id, node_id, probability in rows]
