"""SCIM 2.0 provisioning at /scim/v2 (admin scope): the requests Okta and Microsoft Entra ID make
when people join, change role and leave (users, and the roles as groups), and every refusal in
SCIM's error form."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Mount

from core import auth
from dashboard.api import create_api
from dashboard.api.scim.protocol import (
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    LIST_SCHEMA,
    MEDIA_TYPE,
    PATCH_SCHEMA,
    SEARCH_SCHEMA,
    USER_SCHEMA,
)
from db.queries import audit
from db.tables import AuditAction

BASE = "/scim/v2"


def _patch(*operations: dict) -> dict:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def _find(api, username: str) -> list[dict]:
    """The ``Resources`` of a ``userName eq`` filter, as a provider looks a person up."""
    answer = api.client.get(
        f"{BASE}/Users", headers=api.auth("admin"), params={"filter": f'userName eq "{username}"'}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["schemas"] == [LIST_SCHEMA]
    return answer.json()["Resources"]


def test_okta_creates_finds_deactivates_and_reactivates_a_person(api) -> None:
    admin = api.auth("admin")
    assert _find(api, "ann@example.com") == []
    created = api.client.post(
        f"{BASE}/Users",
        headers={**admin, "Content-Type": MEDIA_TYPE},
        content=json.dumps(
            {
                "schemas": [USER_SCHEMA],
                "userName": "ann@example.com",
                "active": True,
                "name": {"givenName": "Ann"},
                "emails": [{"value": "ann@example.com"}],
                "password": "a long enough secret",
            }
        ),
    )
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith(MEDIA_TYPE)
    ann = created.json()
    assert (ann["userName"], ann["active"], ann["roles"]) == (
        "ann@example.com",
        True,
        [{"value": "moderator", "primary": True}],
    )
    assert ann["meta"]["location"].endswith(f"{BASE}/Users/{ann['id']}")
    assert [r["id"] for r in _find(api, "ANN@example.com")] == [ann["id"]]  # without case
    assert api.client.get(f"{BASE}/Users/{ann['id']}", headers=admin).json() == ann

    session = auth.authenticate(api.db, "ann@example.com", "a long enough secret").token
    off = api.client.patch(
        f"{BASE}/Users/{ann['id']}",
        headers=admin,
        json=_patch({"op": "replace", "value": {"active": False}}),
    )
    assert off.status_code == 200 and off.json()["active"] is False, off.text
    assert auth.resolve_session(api.db, session) is None  # signed out at once
    on = api.client.patch(
        f"{BASE}/Users/{ann['id']}",
        headers=admin,
        json=_patch({"op": "replace", "value": {"active": True}}),
    )
    assert on.json()["active"] is True
    with api.db.session() as s:
        done = [(e.action, e.username) for e in audit.list_audit(s) if e.action.startswith("user_")]
    assert {
        (AuditAction.USER_ADDED, "boss"),
        (AuditAction.USER_DISABLED, "boss"),
        (AuditAction.USER_ENABLED, "boss"),
    } <= set(done)  # under the token's account


def test_entra_id_sends_string_booleans_app_roles_and_attributes_not_kept(api) -> None:
    admin = api.auth("admin")
    created = api.client.post(
        f"{BASE}/Users",
        headers=admin,
        json={
            "schemas": [USER_SCHEMA],
            "userName": "bo@example.com",
            "active": "False",
            "externalId": "bo",
        },
    )
    assert created.status_code == 201 and created.json()["active"] is False, created.text
    assert created.json()["externalId"] == "bo"
    bo = created.json()["id"]
    by_external = api.client.get(
        f"{BASE}/Users", headers=admin, params={"filter": 'externalId eq "bo"'}
    )
    assert [r["id"] for r in by_external.json()["Resources"]] == [bo]
    other_case = api.client.get(
        f"{BASE}/Users", headers=admin, params={"filter": 'externalId eq "BO"'}
    )
    assert other_case.json()["totalResults"] == 0  # caseExact, unlike userName
    changed = api.client.patch(
        f"{BASE}/Users/{bo}",
        headers=admin,
        json=_patch(
            {"op": "Replace", "path": "active", "value": "True"},
            {"op": "Add", "path": 'roles[primary eq "True"].value', "value": "lead"},
            {"op": "Replace", "path": "name.familyName", "value": "Smith"},
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "bo@example.com"},
            {"op": "Replace", "path": "externalId", "value": "bo-2"},
        ),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["active"] is True and changed.json()["roles"][0]["value"] == "lead"
    assert changed.json()["externalId"] == "bo-2"
    put = api.client.put(
        f"{BASE}/Users/{bo}",
        headers=admin,
        json={
            "schemas": [USER_SCHEMA],
            "userName": "bo@example.com",
            "active": True,
            "displayName": "Bo",
        },
    )
    assert put.json()["roles"][0]["value"] == "lead"  # roles not sent: unchanged
    assert put.json()["externalId"] == "bo-2"  # nor externalId
    put = api.client.put(
        f"{BASE}/Users/{bo}",
        headers=admin,
        json={"userName": "bo@example.com", "roles": [{"value": "moderator"}, {"value": "admin"}]},
    )
    assert put.json()["roles"][0]["value"] == "admin" and put.json()["active"]  # the highest
    dropped = api.client.patch(
        f"{BASE}/Users/{bo}",
        headers=admin,
        json=_patch({"op": "remove", "path": "roles"}, {"op": "remove", "path": "externalId"}),
    )
    assert dropped.json()["roles"][0]["value"] == "moderator" and "externalId" not in dropped.json()
    with api.db.session() as s:
        (added,) = [
            json.loads(e.detail_json)
            for e in audit.list_audit(s, action=AuditAction.USER_ADDED)
            if json.loads(e.detail_json)["username"] == "bo@example.com"
        ]
        changes = [
            (e.username, json.loads(e.detail_json)["from"], json.loads(e.detail_json)["to"])
            for e in reversed(audit.list_audit(s, action=AuditAction.EXTERNAL_ID_SET))
        ]
    assert added["external_id"] == "bo"
    assert changes == [("boss", "bo", "bo-2"), ("boss", "bo-2", None)]  # the PUTs changed none


def test_a_new_user_name_from_the_provider_renames_the_account(api) -> None:
    """An e-mail changed at the provider: Entra ID's PATCH and Okta's PUT both rename the
    account; its id, role, password and sessions stay."""
    admin = api.auth("admin")
    created = api.client.post(
        f"{BASE}/Users",
        headers=admin,
        json={"userName": "cy@old.example", "roles": ["lead"], "password": "a long enough secret"},
    )
    cy = created.json()["id"]
    session = auth.authenticate(api.db, "cy@old.example", "a long enough secret").token
    renamed = api.client.patch(
        f"{BASE}/Users/{cy}",
        headers=admin,
        json=_patch({"op": "Replace", "path": "userName", "value": "cy@new.example"}),
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["id"], renamed.json()["userName"]) == (cy, "cy@new.example")
    assert renamed.json()["roles"] == [{"value": "lead", "primary": True}]
    assert _find(api, "cy@old.example") == [] and _find(api, "cy@new.example") == [renamed.json()]
    assert auth.resolve_session(api.db, session).username == "cy@new.example"
    put = api.client.put(
        f"{BASE}/Users/{cy}",
        headers=admin,
        json={"schemas": [USER_SCHEMA], "userName": "cy@third.example", "active": True},
    )
    assert (
        put.json()["userName"] == "cy@third.example" and put.json()["roles"][0]["value"] == "lead"
    )
    assert auth.authenticate(api.db, "cy@third.example", "a long enough secret").user.id == int(cy)
    with api.db.session() as s:
        renames = [
            (e.username, json.loads(e.detail_json)["to"])
            for e in audit.list_audit(s, action=AuditAction.USER_RENAMED)
        ]
    assert sorted(renames) == [("boss", "cy@new.example"), ("boss", "cy@third.example")]


def test_delete_disables_and_keeps_the_account(api) -> None:
    admin = api.auth("admin")
    mod = _find(api, "mod")[0]
    assert api.client.delete(f"{BASE}/Users/{mod['id']}", headers=admin).status_code == 204
    assert api.client.get(f"{BASE}/Users/{mod['id']}", headers=admin).json()["active"] is False
    with api.db.session() as s:
        assert [e.username for e in audit.list_audit(s, action=AuditAction.USER_DISABLED)] == [
            "boss"
        ]


def test_pages_and_discovery(api) -> None:
    admin = api.auth("admin")
    for name in ("carl", "dora", "eve"):
        api.client.post(f"{BASE}/Users", headers=admin, json={"userName": name})
    page = api.client.get(
        f"{BASE}/Users", headers=admin, params={"startIndex": 2, "count": 2}
    ).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [r["userName"] for r in page["Resources"]] == ["carl", "dora"]  # boss, carl, ...
    boss = _find(api, "boss")[0]
    by_id = api.client.get(
        f"{BASE}/Users", headers=admin, params={"filter": f'id eq "{boss["id"]}"'}
    )
    assert [r["userName"] for r in by_id.json()["Resources"]] == ["boss"]
    searched = api.client.post(
        f"{BASE}/Users/.search",
        headers=admin,
        json={
            "schemas": [SEARCH_SCHEMA],
            "filter": 'userName eq "DORA"',
            "attributes": ["userName", "urn:ietf:params:scim:schemas:core:2.0:User:active"],
        },
    ).json()
    assert [set(r) for r in searched["Resources"]] == [{"schemas", "id", "userName", "active"}]
    slim = api.client.get(
        f"{BASE}/Groups", headers=admin, params={"excludedAttributes": "members,id"}
    ).json()["Resources"]
    assert [sorted(g) for g in slim] == [["displayName", "id", "meta", "schemas"]] * 3
    one = api.client.get(
        f"{BASE}/Users/{boss['id']}", headers=admin, params={"attributes": "roles.value"}
    ).json()
    assert one == {"schemas": [USER_SCHEMA], "id": boss["id"], "roles": boss["roles"]}
    config = api.client.get(f"{BASE}/ServiceProviderConfig", headers=admin).json()
    assert config["patch"]["supported"] and not config["bulk"]["supported"]
    types = api.client.get(f"{BASE}/ResourceTypes", headers=admin).json()["Resources"]
    assert [(t["name"], t["endpoint"]) for t in types] == [("User", "/Users"), ("Group", "/Groups")]
    user_schema, group_schema = api.client.get(f"{BASE}/Schemas", headers=admin).json()["Resources"]
    assert api.client.get(f"{BASE}/Schemas/{GROUP_SCHEMA}", headers=admin).json() == group_schema
    assert api.client.get(f"{BASE}/ResourceTypes/User", headers=admin).json() == types[0]
    assert api.client.get(f"{BASE}/ResourceTypes/Role", headers=admin).status_code == 404
    assert (user_schema["id"], group_schema["id"]) == (USER_SCHEMA, GROUP_SCHEMA)
    assert {a["name"] for a in user_schema["attributes"]} == {
        "userName",
        "externalId",
        "active",
        "roles",
        "password",
    }
    assert {a["name"] for a in group_schema["attributes"]} == {"displayName", "members"}


def test_refusals_are_scim_errors_in_words_and_change_nothing(api) -> None:
    admin = api.auth("admin")
    mod, boss = _find(api, "mod")[0], _find(api, "boss")[0]
    cases = [
        ("get", "/Users", None, None, 401, None, "missing API token"),
        ("get", "/Users", None, "read", 403, None, "admin scope"),
        ("post", "/Users", {"userName": "x"}, "write", 403, None, "admin scope"),
        ("get", "/Users?filter=userName%20sw%20%22a%22", None, "admin", 400, "invalidFilter", "eq"),
        ("get", "/Users/999", None, "admin", 404, None, "no user with id 999"),
        ("get", "/Users/abc", None, "admin", 404, None, "no user with id 'abc'"),
        ("post", "/Users", {"userName": "mod"}, "admin", 409, "uniqueness", "already exists"),
        (
            "post",
            "/Users",
            {"active": True},
            "admin",
            400,
            "invalidValue",
            "userName must be a non-empty string",
        ),
        ("post", "/Users", {"userName": "a b"}, "admin", 400, "invalidValue", "without spaces"),
        (
            "post",
            "/Users",
            {"userName": "x", "password": "short"},
            "admin",
            400,
            "invalidValue",
            "password",
        ),
        (
            "post",
            "/Users",
            {"userName": "x", "roles": [{"value": "owner"}]},
            "admin",
            400,
            "invalidValue",
            "owner",
        ),
        (
            "put",
            f"/Users/{mod['id']}",
            {"userName": "boss"},
            "admin",
            409,
            "uniqueness",
            "already exists",
        ),
        (
            "patch",
            f"/Users/{mod['id']}",
            _patch({"op": "replace", "path": "userName", "value": "two words"}),
            "admin",
            400,
            "invalidValue",
            "without spaces",
        ),
        (
            "patch",
            f"/Users/{mod['id']}",
            {"Operations": []},
            "admin",
            400,
            "invalidSyntax",
            PATCH_SCHEMA,
        ),
        (
            "patch",
            f"/Users/{mod['id']}",
            _patch(
                {"op": "replace", "path": "active", "value": False},
                {"op": "move", "path": "active"},
            ),
            "admin",
            400,
            "invalidSyntax",
            "unknown op 'move'",
        ),
        (
            "patch",
            f"/Users/{mod['id']}",
            _patch(
                {"op": "replace", "path": "roles", "value": "lead"},
                {"op": "replace", "path": "active", "value": "no"},
            ),
            "admin",
            400,
            "invalidValue",
            "active must be true or false",
        ),
        (
            "patch",
            f"/Users/{boss['id']}",
            _patch({"op": "replace", "path": "active", "value": False}),
            "admin",
            409,
            None,
            "only admin",
        ),
        ("delete", f"/Users/{boss['id']}", None, "admin", 409, None, "only admin"),
    ]
    for method, path, body, scope, code, scim_type, words in cases:
        headers = api.auth(scope) if scope else {}
        answer = api.client.request(method, f"{BASE}{path}", headers=headers, json=body)
        assert answer.status_code == code, (path, body, answer.text)
        error = answer.json()
        assert error["schemas"] == [ERROR_SCHEMA] and error["status"] == str(code), answer.text
        assert error.get("scimType") == scim_type and words in error["detail"], answer.text
    assert api.client.get(f"{BASE}/Users", headers=admin).json()["totalResults"] == 2
    assert _find(api, "mod")[0] == mod and _find(api, "boss")[0] == boss  # nothing changed
    broken = api.client.post(
        f"{BASE}/Users", headers={**admin, "Content-Type": MEDIA_TYPE}, content="{not json"
    )
    assert broken.status_code == 400 and broken.json()["scimType"] == "invalidSyntax"


def test_locations_are_the_addresses_the_server_answers_at(api) -> None:
    """Mounted at /api as dashboard/server.py mounts the API, a user's ``meta.location`` is the
    full address it is read from again; behind a proxy, the one ``public_url`` names."""
    served = Starlette(routes=[Mount("/api", create_api(settings=api.settings, db=api.db))])
    with TestClient(served) as client:
        listed = client.get(f"/api{BASE}/Users", headers=api.auth("admin")).json()["Resources"]
        for user in listed:
            location = user["meta"]["location"]
            assert location == f"http://testserver/api{BASE}/Users/{user['id']}"
            assert client.get(location, headers=api.auth("admin")).json() == user
    api.settings.public_url = "https://tagger.example.com/"  # behind a proxy
    with TestClient(served) as client:
        listed = client.get(f"/api{BASE}/Users", headers=api.auth("admin")).json()["Resources"]
    assert {user["meta"]["location"] for user in listed} == {
        f"https://tagger.example.com/api{BASE}/Users/{user['id']}" for user in listed
    }


def _members(api, group: str) -> set[str]:
    answer = api.client.get(f"{BASE}/Groups/{group}", headers=api.auth("admin"))
    assert answer.status_code == 200 and answer.json()["schemas"] == [GROUP_SCHEMA], answer.text
    return {m["display"] for m in answer.json()["members"]}


def test_okta_and_entra_push_role_groups(api) -> None:
    """The roles as groups: membership sets the role, leaving the group the lowest role; a
    change that would leave no admin changes nothing."""
    admin = api.auth("admin")
    boss, mod = _find(api, "boss")[0]["id"], _find(api, "mod")[0]["id"]
    found = api.client.get(
        f"{BASE}/Groups", headers=admin, params={"filter": 'displayName eq "lead"'}
    ).json()
    assert [(g["id"], g["displayName"], g["members"]) for g in found["Resources"]] == [
        ("lead", "lead", [])
    ]
    listed = api.client.get(f"{BASE}/Groups", headers=admin).json()["Resources"]
    assert {g["id"]: {m["display"] for m in g["members"]} for g in listed} == {
        "moderator": {"mod"},
        "lead": set(),
        "admin": {"boss"},
    }

    def patch(group: str, *operations: dict):
        return api.client.patch(f"{BASE}/Groups/{group}", headers=admin, json=_patch(*operations))

    assert patch("lead", {"op": "add", "path": "members", "value": [{"value": mod}]}).json()[
        "members"
    ] == [{"value": mod, "display": "mod", "$ref": f"http://testserver{BASE}/Users/{mod}"}]
    assert _members(api, "moderator") == set()
    patch("lead", {"op": "remove", "path": f'members[value eq "{mod}"]'})
    assert _members(api, "lead") == set() and _members(api, "moderator") == {"mod"}
    put = api.client.put(
        f"{BASE}/Groups/admin",
        headers=admin,
        json={"displayName": "admin", "members": [{"value": boss}, {"value": mod}]},
    )
    assert put.status_code == 200 and _members(api, "admin") == {"boss", "mod"}
    entra = patch("admin", {"op": "Remove", "path": "members", "value": [{"value": boss}]})
    assert entra.status_code == 200 and _members(api, "admin") == {"mod"}
    patch("admin", {"op": "replace", "value": {"members": [{"value": boss}, {"value": mod}]}})
    assert _members(api, "admin") == {"boss", "mod"}

    refusals = [
        (patch("admin", {"op": "remove", "path": "members"}), 409, None, "only admin"),
        (
            patch("lead", {"op": "add", "path": "members", "value": [{"value": "999"}]}),
            400,
            "invalidValue",
            "no user with id 999",
        ),
        (
            patch("lead", {"op": "replace", "path": "displayName", "value": "leads"}),
            400,
            "mutability",
            "keeps its name",
        ),
        (
            api.client.post(f"{BASE}/Groups", headers=admin, json={"displayName": "lead"}),
            409,
            "uniqueness",
            "exists",
        ),
        (
            api.client.post(f"{BASE}/Groups", headers=admin, json={"displayName": "Marketing"}),
            400,
            "invalidValue",
            "the roles",
        ),
        (api.client.delete(f"{BASE}/Groups/admin", headers=admin), 400, "mutability", "remove"),
        (api.client.get(f"{BASE}/Groups/owner", headers=admin), 404, None, "no group 'owner'"),
        (
            api.client.get(f"{BASE}/Groups", headers=admin, params={"filter": 'members eq "1"'}),
            400,
            "invalidFilter",
            "displayName",
        ),
        (api.client.get(f"{BASE}/Groups", headers=api.auth("write")), 403, None, "admin scope"),
    ]
    for answer, code, scim_type, words in refusals:
        assert answer.status_code == code, answer.text
        error = answer.json()
        assert error["schemas"] == [ERROR_SCHEMA] and error.get("scimType") == scim_type
        assert words in error["detail"], answer.text
    assert _members(api, "admin") == {"boss", "mod"} and _members(api, "lead") == set()
    with api.db.session() as s:
        changes = [
            (e.username, json.loads(e.detail_json)["to"])
            for e in audit.list_audit(s, action=AuditAction.ROLE_CHANGED)
        ]
    assert sorted(changes) == sorted(
        [("boss", "lead"), ("boss", "moderator"), ("boss", "admin")]
        + [("boss", "moderator"), ("boss", "admin")]
    )
