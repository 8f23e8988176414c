"""/v1/taxonomy, /v1/models, /v1/models/train and /v1/jobs/{id} (DuckDB and PostgreSQL), and the
OpenAPI schema and docs page."""

from __future__ import annotations

from db.queries import jobs as jobs_q
from db.queries import model_versions as models_q
from db.tables import ModelStatus


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


def test_openapi_schema_and_docs(api):
    schema = api.client.get("/v1/openapi.json").json()
    assert set(schema["paths"]) == {
        "/v1/videos",
        "/v1/videos/{video_id}",
        "/v1/videos/{video_id}/labels",
        "/v1/taxonomy",
        "/v1/models",
        "/v1/models/train",
        "/v1/jobs/{job_id}",
    }
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    docs = api.client.get("/docs")
    assert docs.status_code == 200 and "/v1/openapi.json" in docs.text
