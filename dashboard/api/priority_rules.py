"""``/v1/priority-rules`` (admin scope): the rules that raise the review priority of the videos the
active model gives a tag (:mod:`core.priority_rules`), as on the dashboard's Taxonomy page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from core import priority_rules, review
from dashboard.api.access import Admin
from dashboard.api.context import ApiContext, context
from dashboard.api.schemas import PriorityRuleAdded, PriorityRuleIn, PriorityRuleOut, Problem
from db.queries import priority_rules as rules_q
from db.queries import taxonomy as taxonomy_q
from db.tables import PriorityRule

router = APIRouter(prefix="/priority-rules", tags=["priority rules"])
Ctx = Annotated[ApiContext, Depends(context)]
_ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 429: {"model": Problem}}


@router.get("", response_model=list[PriorityRuleOut], responses=_ERRORS)
def list_rules(ctx: Ctx, user: Admin) -> list[PriorityRuleOut]:
    """Every rule, the most urgent first."""
    with ctx.db.session() as session:
        rules = rules_q.list_rules(session)
        paths = taxonomy_q.node_paths(session, node_ids={r.node_id for r in rules})
    return [_out(rule, paths) for rule in rules]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PriorityRuleAdded,
    responses={409: {"model": Problem}, 422: {"model": Problem}, **_ERRORS},
)
def add_rule(ctx: Ctx, user: Admin, body: PriorityRuleIn) -> PriorityRuleAdded:
    """Videos the active model gives ``tag`` at least ``min_probability`` are raised to
    ``level``: those it has predicted so at once (``raised``), the others when it predicts them
    (audited). 409 when the tag has a rule."""
    with ctx.db.session() as session:
        added = priority_rules.add_rule(
            session,
            tag=body.tag,
            min_probability=body.min_probability,
            level=review.parse_priority(body.level),
            user=user,
        )
        paths = taxonomy_q.node_paths(session, node_ids={added.rule.node_id})
    return PriorityRuleAdded(**_out(added.rule, paths).model_dump(), raised=added.raised)


@router.delete(
    "/{rule_id}",
    response_model=PriorityRuleOut,
    responses={404: {"model": Problem}, **_ERRORS},
)
def remove_rule(ctx: Ctx, user: Admin, rule_id: int) -> PriorityRuleOut:
    """Delete the rule (audited); the priorities it raised stay. The answer is the rule."""
    with ctx.db.session() as session:
        rule = priority_rules.remove_rule(session, rule_id=rule_id, user=user)
        paths = taxonomy_q.node_paths(session, node_ids={rule.node_id})
    return _out(rule, paths)


def _out(rule: PriorityRule, paths: dict[str, str]) -> PriorityRuleOut:
    return PriorityRuleOut(
        id=rule.id,
        tag=paths.get(rule.node_id, rule.node_id),
        min_probability=rule.min_probability,
        level=review.priority_name(rule.priority),
        created_at=rule.created_at,
    )
