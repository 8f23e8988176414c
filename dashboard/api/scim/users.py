"""``/Users``: accounts as SCIM users (see the package's docstring for what is kept)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Query, Request, Response, status

from core import auth
from core.tokens import TokenPrincipal
from dashboard.api.access import Admin
from dashboard.api.context import ApiContext
from dashboard.api.scim.protocol import (
    MAX_RESULTS,
    SEARCH_SCHEMA,
    USER_SCHEMA,
    Attributes,
    Ctx,
    ExcludedAttributes,
    Filter,
    JsonBody,
    ScimError,
    ScimResponse,
    attribute_names,
    boolean,
    chosen_attributes,
    equality_filter,
    list_response,
    patch_operations,
    public_url,
)
from db.queries import users as users_q
from db.queries.users import Account
from db.tables import Role

_ROLES_PATH = re.compile(r"^roles(\[.*\])?(\.value)?$", re.IGNORECASE)


def list_users(
    request: Request,
    ctx: Ctx,
    user: Admin,
    expression: Filter = None,
    start_index: Annotated[int, Query(alias="startIndex")] = 1,
    count: int = MAX_RESULTS,
    attributes: Attributes = None,
    excluded: ExcludedAttributes = None,
) -> ScimResponse:
    """Every account by name, or those a ``userName eq "..."`` / ``id eq "..."`` filter names
    (``userName`` compared without case, as SCIM defines it); 1-based pages; ``attributes``
    / ``excludedAttributes`` (comma-separated) choose what each carries."""
    return _users_page(
        request,
        ctx,
        expression,
        start_index,
        count,
        attribute_names(attributes),
        attribute_names(excluded),
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
        attribute_names(body.get("attributes")),
        attribute_names(body.get("excludedAttributes")),
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
        attribute, value = equality_filter(str(expression), ("userName", "id", "externalId"))
        accounts = [a for a in accounts if _matches(a, attribute, value)]
    start = max(1, start_index)
    page = accounts[start - 1 : start - 1 + min(max(0, count), MAX_RESULTS)]
    resources = [chosen_attributes(_resource(request, ctx, a), attributes, excluded) for a in page]
    return ScimResponse(list_response(resources, total=len(accounts), start=start))


def _matches(account: Account, attribute: str, value: str) -> bool:
    """``attribute eq value`` (the attribute in lower case): ``userName`` without case (as SCIM
    defines it), the others exactly."""
    if attribute == "id":
        return str(account.id) == value
    if attribute == "externalid":
        return account.external_id == value
    return account.username.lower() == value.lower()


def create_user(request: Request, ctx: Ctx, user: Admin, body: JsonBody) -> ScimResponse:
    """A new account (201); 409 ``uniqueness`` when the name is taken. Without a ``password``
    it gets a generated one that nobody is told: it signs in through single sign-on (or an admin
    resets the password)."""
    username = _username(body.get("userName"))
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise ScimError(status.HTTP_400_BAD_REQUEST, "password must be a string", "invalidValue")
    role = _role(body["roles"]) if body.get("roles") else Role.MODERATOR
    created = auth.create_user(
        ctx.db,
        username=username,
        password=password or auth.generate_password(),
        role=role,
        external_id=_external_id(body["externalId"]) if "externalId" in body else None,
        created_by=user,
    )
    if "active" in body and not boolean(body["active"], "active"):
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
    return ScimResponse(
        chosen_attributes(resource, attribute_names(attributes), attribute_names(excluded))
    )


def replace_user(
    request: Request, ctx: Ctx, user: Admin, user_id: str, body: JsonBody
) -> ScimResponse:
    """Set ``active`` (absent: active) and, when sent, ``userName`` (another name renames the
    account), ``externalId`` and ``roles`` (absent: unchanged, so that a provider that does not
    manage roles never demotes anyone), in one unit of work."""
    account = _account(ctx, _number(user_id))
    changes: dict[str, Any] = {"active": boolean(body.get("active", True), "active")}
    if "userName" in body:
        changes["username"] = _username(body["userName"])
    if "externalId" in body:
        changes["external_id"] = _external_id(body["externalId"])
    if body.get("roles"):
        changes["role"] = _role(body["roles"])
    return _update(request, ctx, user, account, changes)


def patch_user(
    request: Request, ctx: Ctx, user: Admin, user_id: str, body: JsonBody
) -> ScimResponse:
    """``add`` / ``replace`` / ``remove`` operations on ``userName``, ``externalId``,
    ``active`` and ``roles`` (also as ``roles[primary eq "True"].value``, as Entra ID sends an
    app role), or without a path on an object of them; all applied in one unit of work or none.
    Removing the roles leaves the lowest, ``moderator``; operations on attributes that are not
    kept change nothing."""
    account = _account(ctx, _number(user_id))
    changes: dict[str, Any] = {}
    for op, path, value in patch_operations(body):
        changes.update(_operation(op, path, value))
    return _update(request, ctx, user, account, changes)


def delete_user(ctx: Ctx, user: Admin, user_id: str) -> Response:
    """Disable the account and sign it out everywhere (204); it is kept for its history."""
    account = _account(ctx, _number(user_id))
    auth.disable_user(ctx.db, username=account.username, by=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _operation(op: str, path: str | None, value: object) -> dict[str, Any]:
    """The account changes one PATCH operation asks for: ``username``, ``external_id``,
    ``role``, ``active``."""
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
            changes.update(_attribute_change(key, attribute_value))
        return changes
    if op == "remove":
        if _ROLES_PATH.match(path):
            return {"role": Role.MODERATOR}
        if path.lower() == "externalid":
            return {"external_id": ""}
        if path.lower() in ("active", "username"):
            raise ScimError(status.HTTP_400_BAD_REQUEST, f"{path} cannot be removed", "mutability")
        return {}
    return _attribute_change(path, value)


def _attribute_change(path: str, value: object) -> dict[str, Any]:
    """What setting one attribute (a PATCH path or a key of a path-less value) changes."""
    if path.lower() == "active":
        return {"active": boolean(value, "active")}
    if path.lower() == "username":
        return {"username": _username(value)}
    if path.lower() == "externalid":
        return {"external_id": _external_id(value)}
    if _ROLES_PATH.match(path):
        return {"role": _role(value)}
    return {}  # an attribute the dashboard does not keep (name, emails, ...)


def _update(
    request: Request,
    ctx: ApiContext,
    user: TokenPrincipal,
    account: Account,
    changes: dict[str, Any],
) -> ScimResponse:
    """Apply ``changes`` (``username``, ``external_id``, ``role``, ``active``; absent or None:
    unchanged; ``external_id=""``: forgotten)."""
    active = changes.get("active")
    auth.update_account(
        ctx.db,
        username=account.username,
        new_username=changes.get("username"),
        external_id=changes.get("external_id"),
        role=changes.get("role"),
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


def _username(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScimError(
            status.HTTP_400_BAD_REQUEST, "userName must be a non-empty string", "invalidValue"
        )
    return value


def _external_id(value: object) -> str:
    """The provider's id as stored: a string (empty or null: none)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ScimError(status.HTTP_400_BAD_REQUEST, "externalId must be a string", "invalidValue")
    return value


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
    primary = [r.get("value") for r in roles if boolean(r.get("primary", False), "primary")]
    return primary[0] if primary else max(names, key=auth.ROLE_RANK.__getitem__)


def _resource(request: Request, ctx: ApiContext, account: Account) -> dict[str, object]:
    external = {"externalId": account.external_id} if account.external_id else {}
    return {
        "schemas": [USER_SCHEMA],
        "id": str(account.id),
        **external,
        "userName": account.username,
        "active": not account.disabled,
        "roles": [{"value": account.role, "primary": True}],
        "meta": {
            "resourceType": "User",
            "created": account.created_at.isoformat(),
            "location": user_location(request, ctx, account.id),
        },
    }


def user_location(request: Request, ctx: ApiContext, user_id: int) -> str:
    return public_url(request.url_for("scim_user", user_id=str(user_id)), ctx)
