"""``/v1/taxonomy``, ``/v1/models`` (list; train and the retraining policy with the admin scope)
and ``/v1/jobs/{id}``."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, status

from core import quality
from core.lifecycle import jobs, liveness
from core.lifecycle.retrain_policy import PolicyState, policy_state
from dashboard.api.access import Admin, Reader
from dashboard.api.context import ApiContext, context
from dashboard.api.schemas import (
    JobOut,
    ModelOut,
    Problem,
    RetrainPolicyIn,
    RetrainPolicyOut,
    TaxonomyNodeOut,
    TrainIn,
)
from db.queries import taxonomy as taxonomy_q
from db.tables import utcnow

router = APIRouter()
Ctx = Annotated[ApiContext, Depends(context)]
_ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 429: {"model": Problem}}
MAX_MODELS = 200


@router.get("/taxonomy", response_model=list[TaxonomyNodeOut], tags=["taxonomy"], responses=_ERRORS)
def get_taxonomy(ctx: Ctx, user: Reader) -> list[TaxonomyNodeOut]:
    """Every tag, parents before children."""
    with ctx.db.session() as session:
        nodes = taxonomy_q.get_nodes(session)
    return [
        TaxonomyNodeOut(id=n.id, path=n.path, name=n.name, parent_id=n.parent_id, level=n.level)
        for n in nodes
    ]


@router.get("/models", response_model=list[ModelOut], tags=["models"], responses=_ERRORS)
def list_models(ctx: Ctx, user: Reader) -> list[ModelOut]:
    """Model versions, newest first (a version whose training process died is reported failed)."""
    return [
        ModelOut(
            id=v.id,
            status=v.status,
            is_active=v.is_active,
            created_at=v.created_at,
            encoder_id=v.encoder_id,
            encoder_version=v.encoder_version,
            n_train=v.n_train,
            n_valid=v.n_valid,
            metrics=json.loads(v.metrics_json),
            notes=v.notes,
        )
        for v in liveness.list_model_versions(ctx.db, limit=MAX_MODELS)
    ]


@router.post(
    "/models/train",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    tags=["models"],
    responses={409: {"model": Problem}, 422: {"model": Problem}, **_ERRORS},
)
def train_model(ctx: Ctx, user: Admin, body: TrainIn | None = None) -> JobOut:
    """Start a training job on the current labels (the dashboard's retrain); poll the job.
    409 while another training runs."""
    job_id = ctx.start("train", {"activate": body.activate if body else False}, user)
    return _job_out(jobs.get_job(ctx.db, job_id))


@router.get(
    "/models/retrain-policy",
    response_model=RetrainPolicyOut,
    tags=["models"],
    responses=_ERRORS,
)
def get_retrain_policy(ctx: Ctx, user: Admin) -> RetrainPolicyOut:
    """When retraining starts by itself, when it next does, and how the last run ended."""
    with ctx.db.session() as session:
        return _policy_out(policy_state(session, now=utcnow()))


@router.put(
    "/models/retrain-policy",
    response_model=RetrainPolicyOut,
    tags=["models"],
    responses={422: {"model": Problem}, **_ERRORS},
)
def set_retrain_policy(ctx: Ctx, user: Admin, body: RetrainPolicyIn) -> RetrainPolicyOut:
    """Set it, as an admin does on the dashboard's Label quality page (audited; the token's
    account must be an admin). The server applies it at its next check (``retrain_poll_s``)."""
    with ctx.db.session() as session:
        quality.set_retrain_policy(
            session,
            mode=body.mode,
            every_hours=body.every_hours,
            after_labels=body.after_labels,
            min_gain=body.min_gain,
            user=user,
        )
        return _policy_out(policy_state(session, now=utcnow()))


def _policy_out(state: PolicyState) -> RetrainPolicyOut:
    policy = state.policy
    return RetrainPolicyOut(
        mode=policy.mode,
        every_hours=policy.every_hours,
        after_labels=policy.after_labels,
        min_gain=policy.min_gain,
        due=state.due,
        next_run=state.next_run(),
        last_run=state.last_run(),
    )


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    tags=["jobs"],
    responses={404: {"model": Problem}, **_ERRORS},
)
def get_job(ctx: Ctx, user: Reader, job_id: int) -> JobOut:
    """A background job's progress; a job whose worker died is reported failed."""
    return _job_out(jobs.get_job(ctx.db, job_id))


def _job_out(info: jobs.JobInfo) -> JobOut:
    return JobOut(
        id=info.id,
        kind=info.kind,
        status=info.status,
        progress=info.progress,
        message=info.message,
        result=info.result,
        created_at=info.created_at,
        updated_at=info.updated_at,
    )
