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

The roles are also three fixed SCIM ``Group`` resources, ``moderator``, ``lead`` and ``admin``
(id and ``displayName`` the role's name; members: the accounts with that role), for providers
that assign roles by pushing groups (Okta): adding a member gives the account the group's role,
removing one whose role it is gives the lowest role, ``moderator``. A membership change is one
unit of work. Groups are neither made nor deleted.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import URL
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
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MEDIA_TYPE = "application/scim+json"
MAX_RESULTS = 200  # a page of /Users at most, as ServiceProviderConfig says
_ALWAYS_RETURNED = {"id", "schemas"}
_FILTER = re.compile(r'^\s*(\w+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
_ROLES_PATH = re.compile(r"^roles(\[.*\])?(\.value)?$", re.IGNORECASE)
_MEMBER_PATH = re.compile(r'^members(?:\[\s*value\s+eq\s+"([^"]*)"\s*\])?$', re.IGNORECASE)

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
    app.add_api_route("/ResourceTypes/{name}", resource_type, methods=["GET"])
    app.add_api_route("/Schemas", schemas, methods=["GET"])
    app.add_api_route("/Schemas/{schema_id}", schema, methods=["GET"])
    app.add_api_route("/Users", list_users, methods=["GET"])
    app.add_api_route("/Users", create_user, methods=["POST"])
    app.add_api_route("/Users/.search", search_users, methods=["POST"])
    app.add_api_route("/Users/{user_id}", get_user, methods=["GET"], name="scim_user")
    app.add_api_route("/Users/{user_id}", replace_user, methods=["PUT"])
    app.add_api_route("/Users/{user_id}", patch_user, methods=["PATCH"])
    app.add_api_route("/Users/{user_id}", delete_user, methods=["DELETE"])
    app.add_api_route("/Groups", list_groups, methods=["GET"])
    app.add_api_route("/Groups", create_group, methods=["POST"])
    app.add_api_route("/Groups/{group_id}", get_group, methods=["GET"], name="scim_group")
    app.add_api_route("/Groups/{group_id}", replace_group, methods=["PUT"])
    app.add_api_route("/Groups/{group_id}", patch_group, methods=["PATCH"])
    app.add_api_route("/Groups/{group_id}", delete_group, methods=["DELETE"])
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
    return ScimResponse(_list(list(RESOURCE_TYPES.values()), total=len(RESOURCE_TYPES), start=1))


def resource_type(user: Admin, name: str) -> ScimResponse:
    if name not in RESOURCE_TYPES:
        raise ScimError(status.HTTP_404_NOT_FOUND, f"no resource type {name!r}")
    return ScimResponse(RESOURCE_TYPES[name])


def schemas(user: Admin) -> ScimResponse:
    return ScimResponse(_list(list(SCHEMAS.values()), total=len(SCHEMAS), start=1))


def schema(user: Admin, schema_id: str) -> ScimResponse:
    if schema_id not in SCHEMAS:
        raise ScimError(status.HTTP_404_NOT_FOUND, f"no schema {schema_id!r}")
    return ScimResponse(SCHEMAS[schema_id])


def _attribute(name: str, kind: str, **more: object) -> dict[str, object]:
    """An attribute's definition (RFC 7643, 7) with the specification's defaults."""
    return {
        "name": name,
        "type": kind,
        "multiValued": False,
        "description": "",
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
        **more,
    }


_ROLE_NAMES = [role.value for role in Role]
SCHEMAS = {
    USER_SCHEMA: {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A dashboard account",
        "attributes": [
            _attribute(
                "userName",
                "string",
                description="The account's name: the e-mail single sign-on matches",
                required=True,
                mutability="immutable",
                uniqueness="server",
            ),
            _attribute("active", "boolean", description="False: disabled, signed out"),
            _attribute(
                "roles",
                "complex",
                description="The account's one role",
                multiValued=True,
                subAttributes=[
                    _attribute("value", "string", canonicalValues=_ROLE_NAMES, caseExact=True),
                    _attribute("primary", "boolean"),
                ],
            ),
            _attribute(
                "password", "string", mutability="writeOnly", returned="never", caseExact=True
            ),
        ],
        "meta": {"resourceType": "Schema", "location": f"/Schemas/{USER_SCHEMA}"},
    },
    GROUP_SCHEMA: {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "A role: its members are the accounts with it",
        "attributes": [
            _attribute(
                "displayName",
                "string",
                description="The role's name",
                required=True,
                mutability="immutable",
                uniqueness="server",
                canonicalValues=_ROLE_NAMES,
                caseExact=True,
            ),
            _attribute(
                "members",
                "complex",
                multiValued=True,
                subAttributes=[
                    _attribute("value", "string", caseExact=True),
                    _attribute("display", "string", mutability="readOnly"),
                ],
            ),
        ],
        "meta": {"resourceType": "Schema", "location": f"/Schemas/{GROUP_SCHEMA}"},
    },
}
RESOURCE_TYPES = {
    name: {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": name,
        "name": name,
        "endpoint": f"/{name}s",
        "schema": schema_id,
        "meta": {"resourceType": "ResourceType", "location": f"/ResourceTypes/{name}"},
    }
    for name, schema_id in (("User", USER_SCHEMA), ("Group", GROUP_SCHEMA))
}


Attributes = Annotated[str | None, Query(alias="attributes")]
ExcludedAttributes = Annotated[str | None, Query(alias="excludedAttributes")]


def list_users(
    request: Request,
    ctx: Ctx,
    user: Admin,
    expression: Annotated[str | None, Query(alias="filter")] = None,
    start_index: Annotated[int, Query(alias="startIndex")] = 1,
    count: int = MAX_RESULTS,
    attributes: Attributes = None,
    excluded: ExcludedAttributes = None,
) -> ScimResponse:
    """Every account by name, or those a ``userName eq "..."`` / ``id eq "..."`` filter names
    (``userName`` compared without case, as SCIM defines it); 1-based pages; ``attributes``
    / ``excludedAttributes`` (comma-separated) choose what each carries."""
    return _users_page(
        request, ctx, expression, start_index, count, _names(attributes), _names(excluded)
    )


def search_users(request: Request, ctx: Ctx, user: Admin, body: JsonBody) -> ScimResponse:
    """``POST /Users/.search``: the same query as ``GET /Users``, in the body (RFC 7644,
    3.4.3), so that a filter is not written into access logs."""
    if SEARCH_SCHEMA not in body.get("schemas", []):
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, f"schemas must list {SEARCH_SCHEMA}", "invalidSyntax"
        )
    start_index, count = body.get("startIndex", 1), body.get("count", MAX_RESULTS)
    if not isinstance(start_index, int) or not isinstance(count, int):
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, "startIndex and count must be integers", "invalidValue"
        )
    return _users_page(
        request,
        ctx,
        body.get("filter"),
        start_index,
        count,
        _names(body.get("attributes")),
        _names(body.get("excludedAttributes")),
    )


def _users_page(
    request: Request,
    ctx: ApiContext,
    expression: object,
    start_index: int,
    count: int,
    attributes: set[str],
    excluded: set[str],
) -> ScimResponse:
    with ctx.db.session() as session:
        accounts = users_q.list_accounts(session)
    if expression is not None:
        attribute, value = _equality(str(expression), ("userName", "id"))
        accounts = [
            a
            for a in accounts
            if (str(a.id) == value if attribute == "id" else a.username.lower() == value.lower())
        ]
    start = max(1, start_index)
    page = accounts[start - 1 : start - 1 + min(max(0, count), MAX_RESULTS)]
    resources = [_chosen(_resource(request, ctx, a), attributes, excluded) for a in page]
    return ScimResponse(_list(resources, total=len(accounts), start=start))


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


def get_user(
    request: Request,
    ctx: Ctx,
    user: Admin,
    user_id: str,
    attributes: Attributes = None,
    excluded: ExcludedAttributes = None,
) -> ScimResponse:
    resource = _resource(request, ctx, _account(ctx, _number(user_id)))
    return ScimResponse(_chosen(resource, _names(attributes), _names(excluded)))


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
    changes: dict[str, Any] = {}
    for op, path, value in _operations(body):
        changes.update(_operation(account, op, path, value))
    return _update(
        request, ctx, user, account, role=changes.get("role"), active=changes.get("active")
    )


def delete_user(ctx: Ctx, user: Admin, user_id: str) -> Response:
    """Disable the account and sign it out everywhere (204); it is kept for its history."""
    account = _account(ctx, _number(user_id))
    auth.disable_user(ctx.db, username=account.username, by=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def list_groups(
    request: Request,
    ctx: Ctx,
    user: Admin,
    expression: Annotated[str | None, Query(alias="filter")] = None,
    attributes: Attributes = None,
    excluded: ExcludedAttributes = None,
) -> ScimResponse:
    """The three role groups, or the one a ``displayName eq`` / ``id eq`` filter names
    (providers ask with ``excludedAttributes=members`` to list groups cheaply)."""
    roles = [role.value for role in Role]
    if expression is not None:
        _, value = _equality(expression, ("displayName", "id"))
        roles = [role for role in roles if role == value]
    chosen, left_out = _names(attributes), _names(excluded)
    groups = [_chosen(_group(request, ctx, role), chosen, left_out) for role in roles]
    return ScimResponse(_list(groups, total=len(groups), start=1))


def get_group(
    request: Request,
    ctx: Ctx,
    user: Admin,
    group_id: str,
    attributes: Attributes = None,
    excluded: ExcludedAttributes = None,
) -> ScimResponse:
    group = _group(request, ctx, _role_group(group_id))
    return ScimResponse(_chosen(group, _names(attributes), _names(excluded)))


def create_group(ctx: Ctx, user: Admin, body: JsonBody) -> ScimResponse:
    """Groups are the roles: 409 ``uniqueness`` for a role's name (link the provider's group to
    it instead), 400 for any other."""
    name = body.get("displayName")
    if name in {role.value for role in Role}:
        raise ScimError(
            status.HTTP_409_CONFLICT, f"the group {name!r} exists: link to it", "uniqueness"
        )
    raise ScimError(
        status.HTTP_400_BAD_REQUEST,
        f"groups here are the roles {[role.value for role in Role]}; {name!r} is not one",
        "invalidValue",
    )


def replace_group(
    request: Request, ctx: Ctx, user: Admin, group_id: str, body: JsonBody
) -> ScimResponse:
    """The group's members become exactly those sent (absent: none)."""
    role = _role_group(group_id)
    _same_group_name(role, body.get("displayName", role))
    _set_members(ctx, user, role, replace=_member_ids(body.get("members", [])))
    return ScimResponse(_group(request, ctx, role))


def patch_group(
    request: Request, ctx: Ctx, user: Admin, group_id: str, body: JsonBody
) -> ScimResponse:
    """``add`` / ``remove`` / ``replace`` of ``members`` (also ``members[value eq "ID"]``, or
    without a path on an object with ``members``), all in one unit of work."""
    role = _role_group(group_id)
    added: set[int] = set()
    removed: set[int] = set()
    replaced: set[int] | None = None
    for op, path, value in _operations(body):
        if path is None:
            if not isinstance(value, dict):
                raise ScimError(
                    status.HTTP_400_BAD_REQUEST,
                    "without a path the value must be an object",
                    "invalidValue",
                )
            _same_group_name(role, value.get("displayName", role))
            path, value = ("members", value["members"]) if "members" in value else ("", None)
        if path.lower() == "displayname":
            _same_group_name(role, value)
            continue
        member = _MEMBER_PATH.match(path)
        if member is None:
            continue  # an attribute the dashboard does not keep
        ids = (
            {_member_id(member.group(1))}
            if member.group(1) is not None
            else _member_ids(value if value is not None else [])
        )
        if op == "add":
            added |= ids
            removed -= ids
        elif op == "remove" and (member.group(1) is not None or value is not None):
            removed |= ids
            added -= ids
        elif op == "remove":  # every member
            replaced, added, removed = set(), set(), set()
        else:
            replaced, added, removed = ids, set(), set()
    _set_members(ctx, user, role, replace=replaced, add=added, remove=removed)
    return ScimResponse(_group(request, ctx, role))


def delete_group(ctx: Ctx, user: Admin, group_id: str) -> Response:
    _role_group(group_id)
    raise ScimError(
        status.HTTP_400_BAD_REQUEST,
        "a role's group cannot be deleted: remove its members instead",
        "mutability",
    )


def _set_members(
    ctx: ApiContext,
    user: TokenPrincipal,
    role: str,
    *,
    replace: set[int] | None = None,
    add: frozenset[int] | set[int] = frozenset(),
    remove: frozenset[int] | set[int] = frozenset(),
) -> None:
    """Apply a membership change to the accounts' roles in one unit of work: the members become
    ``replace`` (None: stay), then ``add`` get ``role`` and those of ``remove`` with ``role``
    the lowest."""
    with ctx.db.session() as session:
        accounts = {a.id: a for a in users_q.list_accounts(session)}
    unknown = sorted(((replace or set()) | add | remove) - accounts.keys())
    if unknown:
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, f"no user with id {unknown[0]}", "invalidValue"
        )
    members = {i for i, a in accounts.items() if a.role == role}
    wanted = ((members if replace is None else replace) | add) - remove
    roles = {accounts[i].username: role for i in wanted - members}
    if role != Role.MODERATOR:
        roles |= {accounts[i].username: Role.MODERATOR.value for i in members - wanted}
    if roles:
        auth.set_roles(ctx.db, roles, by=user)


def _group(request: Request, ctx: ApiContext, role: str) -> dict[str, object]:
    with ctx.db.session() as session:
        members = [a for a in users_q.list_accounts(session) if a.role == role]
    return {
        "schemas": [GROUP_SCHEMA],
        "id": role,
        "displayName": role,
        "members": [
            {"value": str(a.id), "display": a.username, "$ref": _location(request, ctx, a.id)}
            for a in members
        ],
        "meta": {
            "resourceType": "Group",
            "location": _public(request.url_for("scim_group", group_id=role), ctx),
        },
    }


def _role_group(group_id: str) -> str:
    if group_id not in {role.value for role in Role}:
        raise ScimError(status.HTTP_404_NOT_FOUND, f"no group {group_id!r}: groups are the roles")
    return group_id


def _same_group_name(role: str, name: object) -> None:
    if name != role:
        raise ScimError(
            status.HTTP_400_BAD_REQUEST,
            f"the group {role!r} keeps its name (it is the role's)",
            "mutability",
        )


def _member_ids(members: object) -> set[int]:
    if not isinstance(members, list) or not all(
        isinstance(m, dict) and isinstance(m.get("value"), str) for m in members
    ):
        raise ScimError(
            status.HTTP_400_BAD_REQUEST,
            'members must be a list of {"value": "USER ID"}',
            "invalidValue",
        )
    return {_member_id(m["value"]) for m in members}


def _member_id(value: str) -> int:
    if not value.isdigit():
        raise ScimError(status.HTTP_400_BAD_REQUEST, f"no user with id {value!r}", "invalidValue")
    return int(value)


def _operations(body: dict[str, Any]) -> list[tuple[str, str | None, Any]]:
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


def _operation(account: Account, op: str, path: str | None, value: object) -> dict[str, Any]:
    """The account changes one PATCH operation asks for: ``role`` and/or ``active``."""
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
        if _ROLES_PATH.match(path):
            return {"role": Role.MODERATOR}
        if path.lower() in ("active", "username"):
            raise ScimError(status.HTTP_400_BAD_REQUEST, f"{path} cannot be removed", "mutability")
        return {}
    return _attribute(account, path, value)


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


def _equality(expression: str, attributes: tuple[str, ...]) -> tuple[str, str]:
    """The attribute (lower case) and value of a filter ``ATTRIBUTE eq "VALUE"``, the one
    form supported, on one of ``attributes``."""
    found = _FILTER.match(expression)
    if found is None or found.group(1).lower() not in {a.lower() for a in attributes}:
        supported = " and ".join(f'{a} eq "..."' for a in attributes)
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, f"filters supported: {supported}", "invalidFilter"
        )
    return found.group(1).lower(), re.sub(r"\\(.)", r"\1", found.group(2))


def _same_name(account: Account, username: object) -> None:
    if username != account.username:
        raise ScimError(
            status.HTTP_400_BAD_REQUEST,
            f"userName cannot change (it stays {account.username!r}): the account's reviews and "
            "audit trail name it; make a new account instead",
            "mutability",
        )


def _role(roles: object) -> str:
    """The one role in a ``roles`` value: a list of ``{"value": ...}`` or of names (the primary
    one when several are sent, else the highest), one such object, or one name."""
    if isinstance(roles, dict | str):
        roles = [roles]
    if isinstance(roles, list):  # names alone, as some clients send them
        roles = [{"value": r} if isinstance(r, str) else r for r in roles]
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
    return _public(request.url_for("scim_user", user_id=str(user_id)), ctx)


def _public(url: URL, ctx: ApiContext) -> str:
    """A resource's address as the provider reaches it: behind a proxy, under ``public_url``."""
    public = ctx.settings.public_url
    return f"{public.rstrip('/')}{url.path}" if public else str(url)


def _names(attributes: object) -> set[str]:
    """Attribute names, lower case, from a comma-separated string or a list; a sub-attribute
    (``name.givenName``) or a schema-qualified name (``urn:...:User:userName``) selects its
    top-level attribute."""
    if attributes is None:
        return set()
    names = attributes.split(",") if isinstance(attributes, str) else attributes
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ScimError(status.HTTP_400_BAD_REQUEST, "attributes must be names", "invalidValue")
    return {n.strip().rsplit(":", 1)[-1].split(".")[0].lower() for n in names if n.strip()}


def _chosen(resource: dict[str, object], attributes: set[str], excluded: set[str]) -> dict:
    """The resource with only ``attributes`` (when given) or without ``excluded``; ``id`` and
    ``schemas`` always stay (RFC 7644, 3.9)."""
    if attributes:
        return {k: v for k, v in resource.items() if k.lower() in attributes | _ALWAYS_RETURNED}
    return {k: v for k, v in resource.items() if k.lower() not in excluded - _ALWAYS_RETURNED}


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
