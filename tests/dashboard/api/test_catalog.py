"""/v1/taxonomy, /v1/models, /v1/models/train and /v1/jobs/{id} (DuckDB and PostgreSQL), and the
OpenAPI schema and docs page."""

from __future__ import annotations

from db.queries import audit as audit_q
from db.queries import jobs as jobs_q
from db.queries import model_versions as models_q
from db.queries import retrain_policy as retrain_policy_q
from db.queries import users as users_q
from db.tables import AuditAction, ModelStatus


def test_taxonomy_lists_every_tag_parents_first(api):
    nodes = api.client.get("/v1/taxonomy", headers=api.auth("read")).json()
    paths = [n["path"] for n in nodes]
    assert sorted(paths) == sorted(
        ["Sports", "Sports: Soccer", "Sports: Golf", "News", "News: Politics"]
    )
    soccer = next(n for n in nodes if n["path"] == "Sports: Soccer")
    assert soccer["parent_id"] == api.node("Sports") and soccer["level"] == 2
    assert paths.index("Sports") < paths.index("Sports: Soccer")


def test_models_list_newest_first(api):
    with api.db.session() as session:
        first = models_q.create_model_version(session, encoder_id="lite", encoder_version="1")
        models_q.finish_model_version(
            session,
            model_version_id=first.id,
            status=ModelStatus.READY,
            metrics={"micro_auprc": 0.5},
        )
        second = models_q.create_model_version(session, encoder_id="lite", encoder_version="1")
    models = api.client.get("/v1/models", headers=api.auth("read")).json()
    assert [m["id"] for m in models] == [second.id, first.id]
    assert models[1]["status"] == "ready" and models[1]["metrics"]["micro_auprc"] == 0.5


def test_train_starts_a_job_that_can_be_polled(api):
    answer = api.client.post("/v1/models/train", headers=api.auth("admin"), json={"activate": True})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["kind"] == "train" and job["status"] == "queued"
    assert api.jobs.started == [("train", {"activate": True})]
    polled = api.client.get(f"/v1/jobs/{job['id']}", headers=api.auth("read")).json()
    assert polled["id"] == job["id"]
    assert api.client.get("/v1/jobs/999", headers=api.auth("read")).status_code == 404
    busy = api.client.post("/v1/models/train", headers=api.auth("admin"))
    assert busy.status_code == 409 and f"training job {job['id']} is still queued" in busy.text
    with api.db.session() as session:
        jobs_q.update_job(session, job_id=job["id"], status="succeeded")
    assert api.client.post("/v1/models/train", headers=api.auth("admin")).status_code == 202


def test_the_retraining_policy_read_and_set_by_an_admin_token(api):
    shown = api.client.get("/v1/models/retrain-policy", headers=api.auth("admin"))
    assert shown.status_code == 200, shown.text
    assert shown.json() == {
        "mode": "on_demand",
        "every_hours": 24.0,
        "after_labels": 100,
        "min_gain": 0.0,
        "due": None,
        "next_run": "Retrains only when an admin starts one.",
        "last_run": None,
    }
    body = {"mode": "after_labels", "after_labels": 5, "min_gain": 0.01}
    changed = api.client.put("/v1/models/retrain-policy", headers=api.auth("admin"), json=body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["next_run"] == (
        "Next retrain after 5 more reviews (0 of 5 since the last one started)."
    )
    with api.db.session() as session:
        assert retrain_policy_q.get_policy(session).min_gain == 0.01
        (entry,) = audit_q.list_audit(session, action=AuditAction.RETRAIN_POLICY)
        assert entry.user_id == users_q.get_user_by_name(session, username="boss").id
    bad = api.client.put(
        "/v1/models/retrain-policy", headers=api.auth("admin"), json={"mode": "hourly"}
    )
    assert bad.status_code == 422 and "mode" in bad.json()["detail"]
    with api.db.session() as session:  # the token's account must still be an admin
        users_q.update_user(session, user_id=entry.user_id, role="moderator")
    refused = api.client.put("/v1/models/retrain-policy", headers=api.auth("admin"), json=body)
    assert refused.status_code == 403 and "boss is moderator" in refused.json()["detail"]


def test_openapi_schema_and_docs(api):
    schema = api.client.get("/v1/openapi.json").json()
    assert set(schema["paths"]) == {
        "/v1/videos",
        "/v1/videos/from-storage",
        "/v1/videos/{video_id}",
        "/v1/videos/{video_id}/history",
        "/v1/videos/{video_id}/labels",
        "/v1/videos/{video_id}/priority",
        "/v1/queue/claims",
        "/v1/queue/claims/{video_id}",
        "/v1/queue/review-targets",
        "/v1/taxonomy",
        "/v1/models",
        "/v1/models/train",
        "/v1/models/retrain-policy",
        "/v1/jobs/{job_id}",
        "/v1/accounts",
        "/v1/accounts/{username}",
        "/v1/accounts/{username}/password",
        "/v1/health",
        "/v1/ready",
        "/v1/metrics",
        "/v1/audit",
        "/v1/priority-rules",
        "/v1/priority-rules/{rule_id}",
    }
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    docs = api.client.get("/docs")
    assert docs.status_code == 200 and "/v1/openapi.json" in docs.text


def test_an_admin_token_manages_the_priority_rules(api):
    """Add, list, refuse in words, remove; the admin scope only; every change audited."""
    url = "/v1/priority-rules"
    rule = {"tag": "Sports: Soccer", "min_probability": 0.6, "level": "urgent"}
    assert api.client.post(url, headers=api.auth("write"), json=rule).status_code == 403
    added = api.client.post(url, headers=api.auth("admin"), json=rule)
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["tag"], body["min_probability"]) == ("Sports: Soccer", 0.6)
    assert body["level"] == "urgent" and body["raised"] == 0  # nothing predicted yet
    again = api.client.post(url, headers=api.auth("admin"), json=rule)
    assert again.status_code == 409 and "already has a priority rule" in again.json()["detail"]
    unknown = api.client.post(url, headers=api.auth("admin"), json={**rule, "tag": "Cooking"})
    assert unknown.status_code == 422 and "'Cooking'" in unknown.json()["detail"]
    normal = api.client.post(url, headers=api.auth("admin"), json={**rule, "level": "normal"})
    assert normal.status_code == 422 and "level" in normal.json()["detail"]
    low = api.client.post(url, headers=api.auth("admin"), json={**rule, "min_probability": 0})
    assert low.status_code == 422 and "min_probability" in low.json()["detail"]
    listed = api.client.get(url, headers=api.auth("admin")).json()
    assert [r["id"] for r in listed] == [body["id"]]
    removed = api.client.delete(f"{url}/{body['id']}", headers=api.auth("admin"))
    assert removed.status_code == 200 and removed.json()["tag"] == "Sports: Soccer"
    assert api.client.delete(f"{url}/{body['id']}", headers=api.auth("admin")).status_code == 404
    with api.db.session() as session:
        actions = [e.action for e in audit_q.list_audit(session)]
    assert actions.count("priority_rule_added") == actions.count("priority_rule_removed") == 1
