"""SCIM's side of every route: media type and message schemas, errors as SCIM answers them,
the one filter form supported (``ATTRIBUTE eq "VALUE"``), PATCH operations, the choice of
returned attributes, list responses and public addresses."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import URL
from starlette.exceptions import HTTPException

from core import auth
from core.errors import TaggerError
from dashboard.api.context import ApiContext, context
from db.engine import DatabaseBusyError
from db.queries import DuplicateError, NotFoundError

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MEDIA_TYPE = "application/scim+json"
MAX_RESULTS = 200  # a page of /Users at most, as ServiceProviderConfig says
_ALWAYS_RETURNED = {"id", "schemas"}
_FILTER = re.compile(r'^\s*(\w+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)

Ctx = Annotated[ApiContext, Depends(context)]
JsonBody = Annotated[dict[str, Any], Body()]
Filter = Annotated[str | None, Query(alias="filter")]
Attributes = Annotated[str | None, Query(alias="attributes")]
ExcludedAttributes = Annotated[str | None, Query(alias="excludedAttributes")]


class ScimResponse(JSONResponse):
    media_type = MEDIA_TYPE


class ScimError(TaggerError):
    """A request SCIM answers with an error: its HTTP status and, where RFC 7644 names one,
    its ``scimType`` (``invalidFilter``, ``invalidValue``, ``mutability``, ...)."""

    def __init__(self, status_code: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.scim_type = scim_type


def equality_filter(expression: str, attributes: tuple[str, ...]) -> tuple[str, str]:
    """The attribute (lower case) and value of a filter ``ATTRIBUTE eq "VALUE"``, the one
    form supported, on one of ``attributes``."""
    found = _FILTER.match(expression)
    if found is None or found.group(1).lower() not in {a.lower() for a in attributes}:
        supported = " and ".join(f'{a} eq "..."' for a in attributes)
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, f"filters supported: {supported}", "invalidFilter"
        )
    return found.group(1).lower(), re.sub(r"\\(.)", r"\1", found.group(2))


def patch_operations(body: dict[str, Any]) -> list[tuple[str, str | None, Any]]:
    """A PATCH request's operations as (op in lower case, path, value)."""
    if PATCH_SCHEMA not in body.get("schemas", []):
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, f"schemas must list {PATCH_SCHEMA}", "invalidSyntax"
        )
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, "Operations must be a non-empty list", "invalidSyntax"
        )
    parsed = []
    for operation in operations:
        if not isinstance(operation, dict):
            raise ScimError(
                status.HTTP_400_BAD_REQUEST, "each operation must be an object", "invalidSyntax"
            )
        op = str(operation.get("op", "")).lower()
        if op not in ("add", "replace", "remove"):
            raise ScimError(
                status.HTTP_400_BAD_REQUEST, f"unknown op {operation.get('op')!r}", "invalidSyntax"
            )
        path = operation.get("path")
        parsed.append((op, None if path is None else str(path), operation.get("value")))
    return parsed


def boolean(value: object, name: str) -> bool:
    """SCIM booleans, also as the strings ``"True"`` / ``"False"`` that Entra ID sends."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ScimError(status.HTTP_400_BAD_REQUEST, f"{name} must be true or false", "invalidValue")


def attribute_names(attributes: object) -> set[str]:
    """Attribute names, lower case, from a comma-separated string or a list; a sub-attribute
    (``name.givenName``) or a schema-qualified name (``urn:...:User:userName``) selects its
    top-level attribute."""
    if attributes is None:
        return set()
    names = attributes.split(",") if isinstance(attributes, str) else attributes
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ScimError(status.HTTP_400_BAD_REQUEST, "attributes must be names", "invalidValue")
    return {n.strip().rsplit(":", 1)[-1].split(".")[0].lower() for n in names if n.strip()}


def chosen_attributes(
    resource: dict[str, object], attributes: set[str], excluded: set[str]
) -> dict:
    """The resource with only ``attributes`` (when given) or without ``excluded``; ``id`` and
    ``schemas`` always stay (RFC 7644, 3.9)."""
    if attributes:
        return {k: v for k, v in resource.items() if k.lower() in attributes | _ALWAYS_RETURNED}
    return {k: v for k, v in resource.items() if k.lower() not in excluded - _ALWAYS_RETURNED}


def list_response(
    resources: list[dict[str, object]], *, total: int, start: int
) -> dict[str, object]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def public_url(url: URL, ctx: ApiContext) -> str:
    """A resource's address as the provider reaches it: behind a proxy, under ``public_url``."""
    public = ctx.settings.public_url
    return f"{public.rstrip('/')}{url.path}" if public else str(url)


def _error(code: int, detail: str, scim_type: str | None = None, **headers: str) -> ScimResponse:
    body: dict[str, object] = {"schemas": [ERROR_SCHEMA], "status": str(code), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return ScimResponse(body, status_code=code, headers=headers or None)


def install_errors(app: FastAPI) -> None:
    """Answer every expected error of a SCIM route in SCIM's form."""
    app.add_exception_handler(ScimError, _scim_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_syntax)
    for kind, code, scim_type in _EXPECTED:
        app.add_exception_handler(kind, _expected(code, scim_type))


async def _scim_error(request: Request, error: ScimError) -> ScimResponse:
    return _error(error.status_code, str(error), error.scim_type)


async def _http_error(request: Request, error: HTTPException) -> ScimResponse:
    """The token checks' refusals (401, 403, 429) and unknown routes, in SCIM's form."""
    return _error(error.status_code, str(error.detail), **(error.headers or {}))


async def _invalid_syntax(request: Request, error: RequestValidationError) -> ScimResponse:
    lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
    return _error(status.HTTP_400_BAD_REQUEST, "; ".join(lines), "invalidSyntax")


# the expected errors of core.auth and db.queries, as SCIM answers them
_EXPECTED: list[tuple[type[Exception], int, str | None]] = [
    (NotFoundError, status.HTTP_404_NOT_FOUND, None),
    (auth.UnknownUserError, status.HTTP_404_NOT_FOUND, None),
    (DuplicateError, status.HTTP_409_CONFLICT, "uniqueness"),
    (auth.LastAdminError, status.HTTP_409_CONFLICT, None),
    (auth.InvalidUserError, status.HTTP_400_BAD_REQUEST, "invalidValue"),
    (DatabaseBusyError, status.HTTP_503_SERVICE_UNAVAILABLE, None),
]


def _expected(code: int, scim_type: str | None):
    async def answer(request: Request, error: Exception) -> ScimResponse:
        return _error(code, " ".join(str(error).split()), scim_type)

    return answer
