"""Expected errors of core/ and db/ as HTTP answers: one line in words under ``detail``.

Anything not listed here is a bug: FastAPI answers 500 and the traceback is logged.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.audit_feed import AuditFeedError
from core.auth import InvalidUserError, LastAdminError, PermissionDeniedError, UnknownUserError
from core.ingest.batch import UploadConflict, UploadRejected, UploadTooLarge
from core.ingest.storage import StorageError
from core.lifecycle.jobs import JobError
from core.priority_rules import PriorityRuleError
from core.quality import OverlapClosedError, QualityInputError, QualityPermissionError
from core.removal import RemovalInputError, VideoBusyError
from core.review import PriorityInputError, PriorityPermissionError, ReviewTargetInputError
from db.engine import DatabaseBusyError
from db.queries import DuplicateError, NotFoundError, StaleVersionError, UnknownNodeError

# most specific first: the first matching class decides
_STATUS: list[tuple[type[Exception], int]] = [
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (StaleVersionError, status.HTTP_412_PRECONDITION_FAILED),
    (UnknownNodeError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (DuplicateError, status.HTTP_409_CONFLICT),
    (UploadConflict, status.HTTP_409_CONFLICT),
    (UploadTooLarge, status.HTTP_413_CONTENT_TOO_LARGE),
    (UploadRejected, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (JobError, status.HTTP_409_CONFLICT),
    (OverlapClosedError, status.HTTP_409_CONFLICT),
    (QualityPermissionError, status.HTTP_403_FORBIDDEN),
    (QualityInputError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (VideoBusyError, status.HTTP_409_CONFLICT),
    (RemovalInputError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (PriorityInputError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (PriorityPermissionError, status.HTTP_403_FORBIDDEN),
    (ReviewTargetInputError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (PermissionDeniedError, status.HTTP_403_FORBIDDEN),
    (PriorityRuleError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (DatabaseBusyError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (UnknownUserError, status.HTTP_404_NOT_FOUND),
    (LastAdminError, status.HTTP_409_CONFLICT),
    (InvalidUserError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (AuditFeedError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (StorageError, status.HTTP_502_BAD_GATEWAY),
]


def problem(code: int, detail: str, **extra: object) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=code)


def _expected(request: Request, error: Exception) -> JSONResponse:
    code = next(code for kind, code in _STATUS if isinstance(error, kind))
    return problem(code, " ".join(str(error).split()) or type(error).__name__)


def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 whose ``detail`` names each bad field in words; ``errors`` keeps pydantic's list."""
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
    lines = [f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in errors]
    return problem(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(lines), errors=errors)


def install(app: FastAPI) -> None:
    for kind, _ in _STATUS:
        app.add_exception_handler(kind, _expected)
    app.add_exception_handler(RequestValidationError, _invalid)
