"""/v1/accounts (admin scope): a platform provisions its reviewers' accounts; the rules are
core.auth's (the Accounts page and `tagger users` share them)."""

from __future__ import annotations

from core import auth, tokens
from db.queries import audit
from db.tables import AuditAction


def test_a_platform_onboards_changes_and_offboards_a_reviewer(api) -> None:
    admin = api.auth("admin")
    created = api.client.post(
        "/v1/accounts", headers=admin, json={"username": "ann", "languages": ["DE", "ru"]}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["account"]["role"] == "moderator" and body["account"]["languages"] == ["de", "ru"]
    password = body["password"]
    assert body["account"]["last_sign_in_at"] is None
    assert auth.authenticate(api.db, "ann", password).user.languages == ("de", "ru")
    assert api.client.get("/v1/accounts/ann", headers=admin).json()["last_sign_in_at"]

    changed = api.client.patch(
        "/v1/accounts/ann", headers=admin, json={"role": "lead", "languages": []}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["role"], changed.json()["languages"]) == ("lead", [])
    session = auth.authenticate(api.db, "ann", password).token
    gone = api.client.patch("/v1/accounts/ann", headers=admin, json={"disabled": True})
    assert gone.json()["disabled"] is True and auth.resolve_session(api.db, session) is None

    reset = api.client.post("/v1/accounts/ann/password", headers=admin)
    assert reset.status_code == 200 and reset.json()["password"] != password
    renamed = api.client.patch(
        "/v1/accounts/ann", headers=admin, json={"username": "ann.smith", "disabled": False}
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["username"], renamed.json()["role"]) == ("ann.smith", "lead")
    listed = {a["username"]: a for a in api.client.get("/v1/accounts", headers=admin).json()}
    assert set(listed) == {"ann.smith", "boss", "mod"} and not listed["ann.smith"]["disabled"]
    with api.db.session() as s:
        done = [e.action for e in audit.list_audit(s) if e.username == "boss"]
    assert {
        AuditAction.USER_ADDED,
        AuditAction.ROLE_CHANGED,
        AuditAction.LANGUAGES_SET,
        AuditAction.USER_DISABLED,
        AuditAction.PASSWORD_RESET,
        AuditAction.USER_RENAMED,
    } <= set(done)


def test_refusals_are_answered_in_words_and_change_nothing(api) -> None:
    admin = api.auth("admin")
    cases = [
        ("post", "/v1/accounts", {"username": "mod"}, 409, "already exists"),
        ("post", "/v1/accounts", {"username": "a b"}, 422, "without spaces"),
        ("post", "/v1/accounts", {"username": "x", "languages": ["german"]}, 422, "german"),
        ("post", "/v1/accounts", {"username": "x", "role": "owner"}, 422, "role"),
        ("patch", "/v1/accounts/nobody", {"role": "lead"}, 404, "no user 'nobody'"),
        ("patch", "/v1/accounts/boss", {"role": "moderator"}, 409, "only admin"),
        ("patch", "/v1/accounts/boss", {"disabled": True}, 409, "only admin"),
        ("patch", "/v1/accounts/mod", {"role": "lead", "languages": ["d"]}, 422, "not a language"),
        ("patch", "/v1/accounts/mod", {"surname": "x"}, 422, "surname"),
        ("patch", "/v1/accounts/mod", {"username": "boss", "role": "lead"}, 409, "already exists"),
        ("patch", "/v1/accounts/mod", {"username": "m o d"}, 422, "without spaces"),
        ("get", "/v1/accounts/nobody", None, 404, "no user 'nobody'"),
        ("post", "/v1/accounts/nobody/password", None, 404, "nobody"),
    ]
    for method, path, body, code, words in cases:
        answer = api.client.request(method, path, headers=admin, json=body)
        assert answer.status_code == code, (path, body, answer.text)
        assert words in answer.json()["detail"], (path, body, answer.text)
    listed = {a["username"]: a for a in api.client.get("/v1/accounts", headers=admin).json()}
    assert set(listed) == {"boss", "mod"} and listed["mod"]["role"] == "moderator"
    assert listed["boss"]["role"] == "admin" and not listed["boss"]["disabled"]


def test_only_admin_tokens_manage_accounts(api) -> None:
    for scope in ("read", "write"):
        headers = api.auth(scope)
        assert api.client.get("/v1/accounts", headers=headers).status_code == 403
        assert (
            api.client.post("/v1/accounts", headers=headers, json={"username": "x"}).status_code
            == 403
        )
        assert (
            api.client.patch("/v1/accounts/mod", headers=headers, json={"role": "admin"})
        ).status_code == 403
    assert api.client.get("/v1/accounts").status_code == 401


def test_a_lead_keeps_the_write_scope_of_its_tokens(api) -> None:
    """A moderator promoted to lead: its write token still writes (leads review too)."""
    api.client.patch("/v1/accounts/mod", headers=api.auth("admin"), json={"role": "lead"})
    principal = tokens.resolve_token(api.db, api.secrets["write"], cache_s=0)
    assert principal.scope == "write"
    issued = tokens.create_token(api.db, name="lead-tool", username="mod", scope="write")
    assert tokens.resolve_token(api.db, issued.secret, cache_s=0).scope == "write"
