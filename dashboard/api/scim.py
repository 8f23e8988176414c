"""SCIM 2.0 user provisioning (RFC 7643, 7644) at ``/api/scim/v2``: the team's identity provider
(Okta, Microsoft Entra ID, OneLogin, Keycloak with a SCIM plug-in) makes, changes and deactivates
dashboard accounts as people join, change role or leave, and a deactivation signs the person
out at once instead of at the end of their session.

An account as a SCIM ``User``: ``id`` (the account's number), ``userName`` (the account name:
the e-mail that single sign-on matches), ``active`` (not disabled) and ``roles`` (one value:
``moderator``, ``lead`` or ``admin``). Other attributes a provider sends (``name``, ``emails``,
``externalId``, ...) are accepted and not kept. Accounts are never deleted, as their reviews and
audit trail name them: ``DELETE`` disables the account, which then reads ``active: false``. A
``userName`` does not change once made. The same rules as the Accounts page and
``/v1/accounts`` (``core.auth``); a bearer token with the admin scope; every change audited under
the token.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from core import auth
from core.errors import TaggerError
from core.tokens import TokenPrincipal
from dashboard.api.access import Admin
from dashboard.api.context import ApiContext, context
from db.engine import DatabaseBusyError
from db.queries import DuplicateError, NotFoundError
from db.queries import users as users_q
from db.queries.users import Account
from db.tables import Role

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MEDIA_TYPE = "application/scim+json"
MAX_RESULTS = 200  # a page of /Users at most, as ServiceProviderConfig says
_FILTER = re.compile(r'^\s*(userName|id)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
_ROLES_PATH = re.compile(r"^roles(\[.*\])?(\.value)?$", re.IGNORECASE)

Ctx = Annotated[ApiContext, Depends(context)]
JsonBody = Annotated[dict[str, Any], Body()]


class ScimResponse(JSONResponse):
    media_type = MEDIA_TYPE


class ScimError(TaggerError):
    """A request SCIM answers with an error: its HTTP status and, where RFC 7644 names one,
    its ``scimType`` (``invalidFilter``, ``invalidValue``, ``mutability``, ...)."""

    def __init__(self, status_code: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.scim_type = scim_type


def create_scim(api_context: ApiContext) -> FastAPI:
    """The SCIM app, mounted by ``create_api`` below the API; it shares the API's context (its
    database, tokens and rate limit) and answers errors in SCIM's form."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.context = api_context
    app.add_exception_handler(ScimError, _scim_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_syntax)
    for kind, code, scim_type in _EXPECTED:
        app.add_exception_handler(kind, _expected(code, scim_type))
    app.add_api_route("/ServiceProviderConfig", service_provider_config, methods=["GET"])
    app.add_api_route("/ResourceTypes", resource_types, methods=["GET"])
    app.add_api_route("/Schemas", schemas, methods=["GET"])
    app.add_api_route("/Users", list_users, methods=["GET"])
    app.add_api_route("/Users", create_user, methods=["POST"])
    app.add_api_route("/Users/{user_id}", get_user, methods=["GET"], name="scim_user")
    app.add_api_route("/Users/{user_id}", replace_user, methods=["PUT"])
    app.add_api_route("/Users/{user_id}", patch_user, methods=["PATCH"])
    app.add_api_route("/Users/{user_id}", delete_user, methods=["DELETE"])
    return app


def service_provider_config(user: Admin) -> ScimResponse:
    return ScimResponse(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "API token",
                    "description": "A token with the admin scope from `tagger tokens create`.",
                }
            ],
        }
    )


def resource_types(user: Admin) -> ScimResponse:
    user_type = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "schema": USER_SCHEMA,
    }
    return ScimResponse(_list([user_type], total=1, start=1))


def schemas(user: Admin) -> ScimResponse:
    def attribute(name: str, kind: str, **more: object) -> dict[str, object]:
        return {"name": name, "type": kind, "multiValued": False, "required": False, **more}

    user_schema = {
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A dashboard account",
        "attributes": [
            attribute(
                "userName", "string", required=True, uniqueness="server", mutability="immutable"
            ),
            attribute("active", "boolean"),
            attribute(
                "roles",
                "complex",
                multiValued=True,
                canonicalValues=[role.value for role in Role],
                subAttributes=[attribute("value", "string"), attribute("primary", "boolean")],
            ),
            attribute("password", "string", mutability="writeOnly", returned="never"),
        ],
    }
    return ScimResponse(_list([user_schema], total=1, start=1))


def list_users(
    request: Request,
    ctx: Ctx,
    user: Admin,
    expression: Annotated[str | None, Query(alias="filter")] = None,
    start_index: Annotated[int, Query(alias="startIndex")] = 1,
    count: int = MAX_RESULTS,
) -> ScimResponse:
    """Every account by name, or those a ``userName eq "..."`` / ``id eq "..."`` filter names
    (``userName`` compared without case, as SCIM defines it); 1-based pages."""
    with ctx.db.session() as session:
        accounts = users_q.list_accounts(session)
    if expression is not None:
        accounts = [a for a in accounts if _matches(a, expression)]
    start = max(1, start_index)
    page = accounts[start - 1 : start - 1 + min(max(0, count), MAX_RESULTS)]
    return ScimResponse(
        _list([_resource(request, ctx, a) for a in page], total=len(accounts), start=start)
    )


def create_user(request: Request, ctx: Ctx, user: Admin, body: JsonBody) -> ScimResponse:
    """A new account (201); 409 ``uniqueness`` when the name is taken. Without a ``password``
    it gets a generated one that nobody is told: it signs in through single sign-on (or an admin
    resets the password)."""
    username = body.get("userName")
    if not isinstance(username, str) or not username.strip():
        raise ScimError(status.HTTP_400_BAD_REQUEST, "userName is required", "invalidValue")
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise ScimError(status.HTTP_400_BAD_REQUEST, "password must be a string", "invalidValue")
    role = _role(body["roles"]) if body.get("roles") else Role.MODERATOR
    created = auth.create_user(
        ctx.db,
        username=username,
        password=password or auth.generate_password(),
        role=role,
        created_by=user,
    )
    if "active" in body and not _boolean(body["active"], "active"):
        auth.disable_user(ctx.db, username=created.username, by=user)
    return ScimResponse(
        _resource(request, ctx, _account(ctx, created.id)), status_code=status.HTTP_201_CREATED
    )


def get_user(request: Request, ctx: Ctx, user: Admin, user_id: str) -> ScimResponse:
    return ScimResponse(_resource(request, ctx, _account(ctx, _number(user_id))))


def replace_user(
    request: Request, ctx: Ctx, user: Admin, user_id: str, body: JsonBody
) -> ScimResponse:
    """Set ``active`` (absent: active) and, when sent, ``roles`` (absent: unchanged, so that a
    provider that does not manage roles never demotes anyone)."""
    account = _account(ctx, _number(user_id))
    if "userName" in body:
        _same_name(account, body["userName"])
    role = _role(body["roles"]) if body.get("roles") else None
    active = _boolean(body.get("active", True), "active")
    return _update(request, ctx, user, account, role=role, active=active)


def patch_user(
    request: Request, ctx: Ctx, user: Admin, user_id: str, body: JsonBody
) -> ScimResponse:
    """``add`` / ``replace`` / ``remove`` operations on ``active`` and ``roles`` (also as
    ``roles[primary eq "True"].value``, as Entra ID sends an app role), or without a path on
    an object of them; all applied in one unit of work or none. Removing the roles leaves the
    lowest, ``moderator``; operations on attributes that are not kept change nothing."""
    account = _account(ctx, _number(user_id))
    if PATCH_SCHEMA not in body.get("schemas", []):
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, f"schemas must list {PATCH_SCHEMA}", "invalidSyntax"
        )
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, "Operations must be a non-empty list", "invalidSyntax"
        )
    changes: dict[str, Any] = {}
    for operation in operations:
        changes.update(_operation(account, operation))
    return _update(
        request, ctx, user, account, role=changes.get("role"), active=changes.get("active")
    )


def delete_user(ctx: Ctx, user: Admin, user_id: str) -> Response:
    """Disable the account and sign it out everywhere (204); it is kept for its history."""
    account = _account(ctx, _number(user_id))
    auth.disable_user(ctx.db, username=account.username, by=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _operation(account: Account, operation: object) -> dict[str, Any]:
    """The account changes one PATCH operation asks for: ``role`` and/or ``active``."""
    if not isinstance(operation, dict):
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, "each operation must be an object", "invalidSyntax"
        )
    op = str(operation.get("op", "")).lower()
    if op not in ("add", "replace", "remove"):
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, f"unknown op {operation.get('op')!r}", "invalidSyntax"
        )
    path, value = operation.get("path"), operation.get("value")
    if path is None:
        if op == "remove":
            raise ScimError(status.HTTP_400_BAD_REQUEST, "remove needs a path", "noTarget")
        if not isinstance(value, dict):
            raise ScimError(
                status.HTTP_400_BAD_REQUEST,
                "without a path the value must be an object",
                "invalidValue",
            )
        changes: dict[str, Any] = {}
        for key, attribute_value in value.items():
            changes.update(_attribute(account, key, attribute_value))
        return changes
    if op == "remove":
        if _ROLES_PATH.match(str(path)):
            return {"role": Role.MODERATOR}
        if str(path).lower() in ("active", "username"):
            raise ScimError(status.HTTP_400_BAD_REQUEST, f"{path} cannot be removed", "mutability")
        return {}
    return _attribute(account, str(path), value)


def _attribute(account: Account, path: str, value: object) -> dict[str, Any]:
    """What setting one attribute (a PATCH path or a key of a path-less value) changes."""
    if path.lower() == "active":
        return {"active": _boolean(value, "active")}
    if path.lower() == "username":
        _same_name(account, value)
        return {}
    if _ROLES_PATH.match(path):
        return {"role": _role(value)}
    return {}  # an attribute the dashboard does not keep (name, emails, externalId, ...)


def _update(
    request: Request,
    ctx: ApiContext,
    user: TokenPrincipal,
    account: Account,
    *,
    role: str | None,
    active: bool | None,
) -> ScimResponse:
    auth.update_account(
        ctx.db,
        username=account.username,
        role=role,
        disabled=None if active is None else not active,
        by=user,
    )
    return ScimResponse(_resource(request, ctx, _account(ctx, account.id)))


def _account(ctx: ApiContext, user_id: int) -> Account:
    with ctx.db.session() as session:
        username = users_q.get_user(session, user_id=user_id).username
        return users_q.list_accounts(session, username=username)[0]


def _number(user_id: str) -> int:
    if not user_id.isdigit():
        raise ScimError(status.HTTP_404_NOT_FOUND, f"no user with id {user_id!r}")
    return int(user_id)


def _matches(account: Account, expression: str) -> bool:
    found = _FILTER.match(expression)
    if found is None:
        raise ScimError(
            status.HTTP_400_BAD_REQUEST,
            'filters supported: userName eq "NAME" and id eq "ID"',
            "invalidFilter",
        )
    attribute, value = found.group(1).lower(), re.sub(r"\\(.)", r"\1", found.group(2))
    if attribute == "id":
        return str(account.id) == value
    return account.username.lower() == value.lower()


def _same_name(account: Account, username: object) -> None:
    if username != account.username:
        raise ScimError(
            status.HTTP_400_BAD_REQUEST,
            f"userName cannot change (it stays {account.username!r}): the account's reviews and "
            "audit trail name it; make a new account instead",
            "mutability",
        )


def _role(roles: object) -> str:
    """The one role in a ``roles`` value: a list of ``{"value": ...}`` (the primary one when
    several are sent, else the highest), one such object, or the role's name."""
    if isinstance(roles, dict):
        roles = [roles]
    if isinstance(roles, str):
        roles = [{"value": roles}]
    if not isinstance(roles, list) or not all(isinstance(r, dict) for r in roles):
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, "roles must be a list of objects", "invalidValue"
        )
    names = [r.get("value") for r in roles]
    unknown = [name for name in names if name not in auth.ROLE_RANK]
    if unknown or not names:
        raise ScimError(
            status.HTTP_400_BAD_REQUEST,
            f"unknown role {unknown[0] if unknown else None!r}; expected one of "
            f"{sorted(auth.ROLE_RANK)}",
            "invalidValue",
        )
    primary = [r.get("value") for r in roles if _boolean(r.get("primary", False), "primary")]
    return primary[0] if primary else max(names, key=auth.ROLE_RANK.__getitem__)


def _boolean(value: object, name: str) -> bool:
    """SCIM booleans, also as the strings ``"True"`` / ``"False"`` that Entra ID sends."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ScimError(status.HTTP_400_BAD_REQUEST, f"{name} must be true or false", "invalidValue")


def _resource(request: Request, ctx: ApiContext, account: Account) -> dict[str, object]:
    return {
        "schemas": [USER_SCHEMA],
        "id": str(account.id),
        "userName": account.username,
        "active": not account.disabled,
        "roles": [{"value": account.role, "primary": True}],
        "meta": {
            "resourceType": "User",
            "created": account.created_at.isoformat(),
            "location": _location(request, ctx, account.id),
        },
    }


def _location(request: Request, ctx: ApiContext, user_id: int) -> str:
    """The user's address as the provider reaches it: behind a proxy, under ``public_url``."""
    url = request.url_for("scim_user", user_id=str(user_id))
    public = ctx.settings.public_url
    return f"{public.rstrip('/')}{url.path}" if public else str(url)


def _list(resources: list[dict[str, object]], *, total: int, start: int) -> dict[str, object]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def _error(code: int, detail: str, scim_type: str | None = None, **headers: str) -> ScimResponse:
    body: dict[str, object] = {"schemas": [ERROR_SCHEMA], "status": str(code), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return ScimResponse(body, status_code=code, headers=headers or None)


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
