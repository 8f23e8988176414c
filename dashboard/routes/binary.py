"""Binary mode's questions and answers over HTTP, for the binary page's script
(:mod:`dashboard.binary_widget`), so that a key shows the next question without a Streamlit run.

The browser holds a queue of questions: a key shows the next one at once and posts the answer
here; answers are posted one at a time, in the order given, and more questions are read before
the queue runs out, leaving out every video already answered, skipped or queued. An answer is an
ordinary review save (claim and version checked, audited), or a skip (the claim released);
either claims the video asked about next in the same unit of work.

Both routes need the dashboard's session cookie of a moderator (401 without a live session, the
stale cookie cleared; 403 for a disabled account). The answer route also refuses a request made
from another site (its ``Origin``) and any body that is not JSON, which a cross-site form cannot
send. Status codes the page acts on: 409 an answer refused (the video changed or someone else
holds it: nothing written), 503 the database busy (nothing written; asked again).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core import auth, bulk_review
from core import review as review_rules
from core.auth import CurrentUser
from core.config import Settings, get_settings
from core.errors import TaggerError
from dashboard import cache
from dashboard.cache import TaxonomyView
from dashboard.components import PREVIEW_S, preview_start
from dashboard.review_data import Question, answer, load_questions
from dashboard.routes import media
from dashboard.routes.session import clear_cookie, same_origin, session_token
from db.engine import DatabaseBusyError, get_database
from db.tables import Role

QUESTIONS_PATH = "/review/binary/questions"
ANSWERS_PATH = "/review/binary/answers"
BATCH = 20  # questions read at a time
MAX_EXCLUDED = 5000  # ids a read may leave out (a long session's answers and skips)
MAX_BODY_BYTES = 64 * 1024
T = TypeVar("T")


class AnswerIn(BaseModel):
    """One answer as the page posts it; ``node_ids`` are the labels the question's ``yes`` or
    ``no`` would save (sent with the question), absent for a skip."""

    model_config = ConfigDict(extra="forbid")

    video_id: int
    version: int
    answer: Literal["yes", "no", "skip"]
    node_ids: list[str] | None = None
    then_claim: int | None = None  # the video asked about next


def question_payload(question: Question, tax: TaxonomyView) -> dict[str, object]:
    """What the page shows of a question, and the labels each answer saves (plain JSON; the page
    writes every text with ``textContent``, never as HTML)."""
    ask = question.ask
    return {
        "video_id": ask.video_id,
        "version": question.start.version,
        "node_id": ask.node_id,
        "tag": tax.path(ask.node_id),
        "probability": round(ask.probability, 4),
        "threshold": round(ask.threshold, 4),
        "title": ask.title or f"Video {ask.video_id}",
        "description": question.description or "",
        "thumbnails": [media.thumbnail_url(ask.video_id, index) for index in question.thumbnails],
        "preview": (
            {
                "src": media.video_url(ask.video_id),
                "start": round(preview_start(question.file.duration_s), 2),
                "seconds": PREVIEW_S,
            }
            if question.file is not None
            else None
        ),
        "others": [tax.path(n) for n in question.start.labels if n != ask.node_id],
        "yes": answer(question.start, node_id=ask.node_id, accept=True, tax=tax),
        "no": answer(question.start, node_id=ask.node_id, accept=False, tax=tax),
    }


def read_questions(
    *,
    user: CurrentUser,
    scope: str | None,
    exclude_ids: Sequence[int],
    claim_first: bool,
    settings: Settings,
    tax: TaxonomyView,
) -> list[dict[str, object]]:
    """The next questions as :func:`question_payload`; with ``claim_first`` the first one's
    video is claimed for ``user`` (questions on videos someone took meanwhile are dropped)."""
    db = get_database(settings)
    questions = load_questions(
        db,
        user=user,
        node_id=scope,
        exclude_ids=exclude_ids,
        settings=settings,
        tax=tax,
        limit=BATCH,
    )
    if claim_first and questions:
        with db.session() as session:
            while questions:
                try:
                    review_rules.claim_video(
                        session,
                        video_id=questions[0].ask.video_id,
                        user=user,
                        claim_minutes=settings.claim_minutes,
                    )
                    break
                except review_rules.VideoClaimedError:
                    questions.pop(0)
    for question in questions:
        media.expect(
            question.ask.video_id,
            video=question.file.stored_path if question.file else None,
            thumbnails=question.thumbnails,
        )
    return [question_payload(q, tax) for q in questions]


def _signed_in(request: Request, work: Callable[[Session, CurrentUser], T]) -> T | Response:
    """``work(session, moderator)`` in one unit of work after checking the session cookie; else
    the 401/403 response."""
    token = session_token(request)
    try:
        with get_database(get_settings()).session() as session:
            user = auth.require_role(auth.user_for_token(session, token=token), Role.MODERATOR)
            return work(session, user)
    except auth.SessionInvalidError:
        response = _problem(401, "your session has ended: sign in again")
        if token:
            clear_cookie(response)
        return response
    except (auth.AccountDisabledError, auth.PermissionDeniedError) as e:
        return _problem(403, str(e))


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _ids(text: str) -> list[int]:
    """``"3,17,42"`` -> [3, 17, 42]; raises ValueError for anything else."""
    ids = [int(part) for part in text.split(",") if part.strip()]
    if len(ids) > MAX_EXCLUDED:
        raise ValueError(f"at most {MAX_EXCLUDED} ids may be left out")
    return ids


def questions(request: Request) -> Response:
    """``GET ?scope=<tag id>&exclude=<ids>&claim_first=1``: the next questions (JSON list)."""
    user = _signed_in(request, lambda _session, user: user)
    if isinstance(user, Response):
        return user
    tax = cache.taxonomy()
    if tax is None:
        return _problem(409, "no taxonomy yet: an admin imports one first")
    scope = request.query_params.get("scope") or None
    if scope is not None and scope not in tax.paths:
        return _problem(422, f"unknown tag {scope!r}")
    try:
        exclude = _ids(request.query_params.get("exclude", ""))
    except ValueError as e:
        return _problem(422, f"exclude: expected comma-separated video ids ({e})")
    settings = get_settings()
    try:
        payloads = read_questions(
            user=user,
            scope=scope,
            exclude_ids=exclude,
            claim_first=request.query_params.get("claim_first") == "1",
            settings=settings,
            tax=tax,
        )
    except DatabaseBusyError as e:
        return _problem(503, str(e))
    return JSONResponse(payloads, headers={"Cache-Control": "no-store"})


async def answers(request: Request) -> Response:
    """``POST`` one :class:`AnswerIn` as JSON: ``{"saved": bool, "claimed": bool}``, or 409 with
    why it was refused."""
    if not same_origin(request):
        return _problem(403, "cross-site request refused")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _problem(415, "send the answer as application/json")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _problem(413, "answer too large")
    try:
        given = AnswerIn.model_validate(json.loads(body))
    except (ValueError, ValidationError) as e:
        return _problem(422, f"not an answer: {e}")
    return await run_in_threadpool(_answer, request, given)


def _answer(request: Request, given: AnswerIn) -> Response:
    minutes = get_settings().claim_minutes

    def write(session: Session, user: CurrentUser) -> Response:
        if given.answer == "skip":
            claimed = review_rules.release_then_claim(
                session,
                video_id=given.video_id,
                user=user,
                skipped=True,
                then_claim=given.then_claim,
                claim_minutes=minutes,
            )
            return JSONResponse({"saved": False, "claimed": claimed is not None})
        if given.node_ids is None:
            return _problem(422, "a yes or no answer needs node_ids")
        outcome = bulk_review.save_reviews(
            session,
            user=user,
            saves=[bulk_review.BulkSave(given.video_id, given.version, tuple(given.node_ids))],
            then_claim=given.then_claim,
            claim_minutes=minutes,
        )
        if outcome.refused:
            review_rules.release_claim(session, video_id=given.video_id, user=user, skipped=True)
            return JSONResponse(
                {"detail": outcome.refused[given.video_id], "claimed": outcome.claimed is not None},
                status_code=409,
            )
        return JSONResponse({"saved": True, "claimed": outcome.claimed is not None})

    try:
        return _signed_in(request, write)
    except DatabaseBusyError as e:
        return _problem(503, f"not saved, the database is busy ({e}); it is asked again")
    except TaggerError as e:
        return _problem(422, f"not saved: {e}")


routes = [
    Route(QUESTIONS_PATH, questions, methods=["GET"]),
    Route(ANSWERS_PATH, answers, methods=["POST"]),
]
