"""``/v1/taxonomy``, ``/v1/models`` (list; train with the admin scope) and ``/v1/jobs/{id}``."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, status

from core.lifecycle import jobs, liveness
from dashboard.api.access import Admin, Reader
from dashboard.api.context import ApiContext, context
from dashboard.api.schemas import JobOut, ModelOut, Problem, TaxonomyNodeOut, TrainIn
from db.queries import taxonomy as taxonomy_q

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
