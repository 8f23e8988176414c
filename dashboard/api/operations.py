"""``/v1/health`` (liveness), ``/v1/ready`` (readiness) and ``/v1/metrics`` (Prometheus): what an
orchestrator and a monitoring system ask of the server. The two probes need no token (a probe
carries none; they tell nothing beyond whether to send work here); the metrics need the read
scope (they count the platform's videos and traffic)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from core.metrics import CONTENT_TYPE_LATEST
from dashboard.api.access import Reader
from dashboard.api.context import ApiContext, context
from dashboard.api.schemas import CheckOut, HealthOut, Problem, ReadinessOut, ThreadOut

router = APIRouter(tags=["operations"])
Ctx = Annotated[ApiContext, Depends(context)]
_ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 429: {"model": Problem}}


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(ctx: Ctx, response: Response) -> HealthOut:
    """The server answers, and each of its background threads (webhook sender, retraining
    watcher, queue ranker) still runs; 503 when one has stopped. Reads no database."""
    threads = [
        ThreadOut(
            name=s.name, alive=s.alive, last_round_at=s.last_round_at, last_error=s.last_error
        )
        for s in ctx.background.states()
    ]
    alive = all(thread.alive for thread in threads)
    if not alive:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthOut(alive=alive, threads=threads)


@router.get("/ready", response_model=ReadinessOut, responses={503: {"model": ReadinessOut}})
def ready(ctx: Ctx, response: Response) -> ReadinessOut:
    """The database answers at this server's schema and holds a taxonomy, and the data folder is
    writable with room for uploads; 503 with the failed check's reason otherwise."""
    readiness = ctx.readiness()
    if not readiness.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadinessOut(
        ready=readiness.ready,
        checks=[CheckOut(name=c.name, ok=c.ok, detail=c.detail) for c in readiness.checks],
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, **_ERRORS},
)
def metrics(ctx: Ctx, user: Reader) -> Response:
    """Prometheus' text format: stored work, background threads, HTTP traffic, the process."""
    return Response(ctx.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
