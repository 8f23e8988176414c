"""``/Groups``: the three roles as fixed groups whose members are the accounts with the role."""

from __future__ import annotations

import re

from fastapi import Request, Response, status

from core import auth
from core.tokens import TokenPrincipal
from dashboard.api.access import Admin
from dashboard.api.context import ApiContext
from dashboard.api.scim.protocol import (
    GROUP_SCHEMA,
    Attributes,
    Ctx,
    ExcludedAttributes,
    Filter,
    JsonBody,
    ScimError,
    ScimResponse,
    attribute_names,
    chosen_attributes,
    equality_filter,
    list_response,
    patch_operations,
    public_url,
)
from dashboard.api.scim.users import user_location
from db.queries import users as users_q
from db.queries.users import Account
from db.tables import Role

_MEMBER_PATH = re.compile(r'^members(?:\[\s*value\s+eq\s+"([^"]*)"\s*\])?$', re.IGNORECASE)


def list_groups(
    request: Request,
    ctx: Ctx,
    user: Admin,
    expression: Filter = None,
    attributes: Attributes = None,
    excluded: ExcludedAttributes = None,
) -> ScimResponse:
    """The three role groups, or the one a ``displayName eq`` / ``id eq`` filter names
    (providers ask with ``excludedAttributes=members`` to list groups cheaply)."""
    roles = [role.value for role in Role]
    if expression is not None:
        _, value = equality_filter(expression, ("displayName", "id"))
        roles = [role for role in roles if role == value]
    chosen, left_out = attribute_names(attributes), attribute_names(excluded)
    with ctx.db.session() as session:
        accounts = users_q.list_accounts(session)
    groups = [
        chosen_attributes(_group(request, ctx, role, accounts), chosen, left_out) for role in roles
    ]
    return ScimResponse(list_response(groups, total=len(groups), start=1))


def get_group(
    request: Request,
    ctx: Ctx,
    user: Admin,
    group_id: str,
    attributes: Attributes = None,
    excluded: ExcludedAttributes = None,
) -> ScimResponse:
    group = _group(request, ctx, _role_group(group_id))
    return ScimResponse(
        chosen_attributes(group, attribute_names(attributes), attribute_names(excluded))
    )


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
    for op, path, value in patch_operations(body):
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


def _group(
    request: Request, ctx: ApiContext, role: str, accounts: list[Account] | None = None
) -> dict[str, object]:
    """The role's group; its members from ``accounts`` (None: read now)."""
    if accounts is None:
        with ctx.db.session() as session:
            accounts = users_q.list_accounts(session)
    members = [a for a in accounts if a.role == role]
    return {
        "schemas": [GROUP_SCHEMA],
        "id": role,
        "displayName": role,
        "members": [
            {"value": str(a.id), "display": a.username, "$ref": user_location(request, ctx, a.id)}
            for a in members
        ],
        "meta": {
            "resourceType": "Group",
            "location": public_url(request.url_for("scim_group", group_id=role), ctx),
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
