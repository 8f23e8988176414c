"""Bearer tokens and scopes on every route (DuckDB and PostgreSQL): 401 without or with a bad
token, 403 below the route's scope, 429 past the rate limit; revocation and disabled accounts."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from core import tokens
from dashboard.api import create_api
from db.queries import users as users_q

# (method, path, body, lowest scope allowed)
ROUTES = [
    ("GET", "/v1/videos", None, "read"),
    ("GET", "/v1/videos/1", None, "read"),
    ("POST", "/v1/videos", None, "write"),
    ("POST", "/v1/videos/from-storage", {"uri": "s3://b/k.mp4"}, "write"),
    ("PUT", "/v1/videos/1/labels", {"tags": []}, "write"),
    ("GET", "/v1/videos/1/history", None, "admin"),
    ("DELETE", "/v1/videos/1?reason=takedown", None, "admin"),
    ("POST", "/v1/queue/claims", None, "write"),
    ("DELETE", "/v1/queue/claims/1", None, "write"),
    ("GET", "/v1/queue/review-targets", None, "read"),
    ("PUT", "/v1/queue/review-targets", {"urgent_minutes": 30, "high_minutes": 240}, "admin"),
    ("GET", "/v1/taxonomy", None, "read"),
    ("GET", "/v1/models", None, "read"),
    ("POST", "/v1/models/train", {"activate": False}, "admin"),
    ("GET", "/v1/models/retrain-policy", None, "admin"),
    ("PUT", "/v1/models/retrain-policy", {"mode": "on_demand"}, "admin"),
    ("GET", "/v1/jobs/1", None, "read"),
    ("GET", "/v1/metrics", None, "read"),
    ("GET", "/v1/audit", None, "admin"),
]
# answered without a token: what a load balancer's or an orchestrator's probe asks
PROBES = ["/v1/health", "/v1/ready"]
RANK = {"read": 1, "write": 2, "admin": 3}


def _call(client, method, path, body, headers):
    return client.request(method, path, json=body, headers=headers)


def test_scope_rules_of_every_route(api):
    """One test for all routes: the fixture (database, accounts, tokens) is built once."""
    for method, path, body, needed in ROUTES:
        anonymous = _call(api.client, method, path, body, {})
        assert anonymous.status_code == 401, path
        assert anonymous.headers["www-authenticate"] == "Bearer"
        bad = _call(api.client, method, path, body, {"Authorization": "Bearer tgr_nope"})
        assert bad.status_code == 401 and bad.json()["detail"] == "unknown or revoked API token"
        for scope in ("read", "write", "admin"):
            answer = _call(api.client, method, path, body, api.auth(scope))
            if RANK[scope] < RANK[needed]:
                assert answer.status_code == 403, (path, scope, answer.text)
                assert f"needs a token with the {needed} scope" in answer.json()["detail"]
            else:  # allowed: whatever the route answers next, it is not an access error
                assert answer.status_code not in (401, 403, 429), (path, scope, answer.text)


def test_probes_need_no_token_and_every_other_route_does(api):
    for path in PROBES:
        assert api.client.get(path).status_code == 200, path
    for path, methods in api.client.get("/v1/openapi.json").json()["paths"].items():
        if path in PROBES:
            continue
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method in methods:
            answer = api.client.request(method.upper(), concrete)
            assert answer.status_code == 401, (method, path, answer.status_code)


def test_revoked_token_and_disabled_account_lose_access(api):
    api.settings.api_token_cache_s = 0
    assert api.client.get("/v1/taxonomy", headers=api.auth("read")).status_code == 200
    tokens.revoke_token(api.db, name="t-read")
    assert api.client.get("/v1/taxonomy", headers=api.auth("read")).status_code == 401
    with api.db.session() as session:
        boss = users_q.get_user_by_name(session, username="boss")
        users_q.update_user(session, user_id=boss.id, disabled=True)
    assert api.client.get("/v1/taxonomy", headers=api.auth("admin")).status_code == 401


def test_demoted_admin_token_keeps_only_write(api):
    api.settings.api_token_cache_s = 0
    with api.db.session() as session:
        boss = users_q.get_user_by_name(session, username="boss")
        users_q.update_user(session, user_id=boss.id, role="moderator")
    answer = api.client.post("/v1/models/train", headers=api.auth("admin"), json={})
    assert answer.status_code == 403


def test_rate_limit_per_token(api):
    api.settings.api_rate_limit_per_minute = 3
    limited = TestClient(create_api(settings=api.settings, db=api.db, start_job=api.jobs))
    codes = [limited.get("/v1/taxonomy", headers=api.auth("read")).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = limited.get("/v1/taxonomy", headers=api.auth("read"))
    assert int(refused.headers["retry-after"]) >= 1 and "rate limit" in refused.json()["detail"]
    assert limited.get("/v1/taxonomy", headers=api.auth("write")).status_code == 200  # own bucket
