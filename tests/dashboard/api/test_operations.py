"""``/v1/health``, ``/v1/ready`` and ``/v1/metrics`` through the API (DuckDB and PostgreSQL):
the probes answer without a token, 503 with the reason when a thread has stopped or a check
fails; the metrics need a token and are Prometheus' text format; the documented alert rules name
only metrics the server exports."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from core.background import Background
from core.metrics import Metrics
from dashboard.api import create_api
from tests.support.fakes import EndedThread

ALERTS = Path(__file__).resolve().parents[3] / "docs" / "monitoring" / "alerts.yml"


def test_health_reports_the_threads_and_503_when_one_stopped(api):
    answer = api.client.get("/v1/health")
    assert answer.status_code == 200 and answer.json() == {"alive": True, "threads": []}
    background = Background()
    background.start([EndedThread(api.db, settings=api.settings)])
    with TestClient(create_api(settings=api.settings, db=api.db, background=background)) as client:
        for _ in range(100):  # the thread ends at once, or within a few answers
            answer = client.get("/v1/health")
            if answer.status_code == 503:
                break
    background.stop()
    assert answer.status_code == 503
    assert answer.json()["threads"] == [
        {"name": "ended", "alive": False, "last_round_at": None, "last_error": None}
    ]


def test_ready_and_not_ready_with_the_reason(api):
    answer = api.client.get("/v1/ready")
    assert answer.status_code == 200 and answer.json()["ready"] is True
    assert [check["name"] for check in answer.json()["checks"]] == ["database", "storage"]
    api.settings.min_free_disk_mb = 1 << 40
    answer = api.client.get("/v1/ready")
    assert answer.status_code == 503 and answer.json()["ready"] is False
    storage = answer.json()["checks"][1]
    assert storage["ok"] is False and "TAGGER_MIN_FREE_DISK_MB" in storage["detail"]


def test_metrics_need_a_token_and_speak_prometheus(api):
    assert api.client.get("/v1/metrics").status_code == 401
    answer = api.client.get("/v1/metrics", headers=api.auth("read"))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    families = {family.name for family in text_string_to_metric_families(answer.text)}
    assert {"tagger_database_up", "tagger_videos", "tagger_http_requests"} <= families


def test_the_alert_rules_name_only_metrics_the_server_exports(api):
    """docs/monitoring/alerts.yml stays true to the metrics: every tagger_ series it names is in
    a scrape of a server that has answered a request and has background threads."""
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    assert all({"alert", "expr", "labels", "annotations"} <= set(rule) for rule in rules)
    background = Background()
    background.start([EndedThread(api.db, settings=api.settings)])
    metrics = Metrics.of(api.db, background)
    metrics.traffic.observe(handler="/api/v1/health", method="GET", status=200, seconds=0.1, sent=1)
    try:
        scrape = metrics.exposition().decode()
    finally:
        background.stop()
    exported = {
        sample.name
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
    }
    named = {name for rule in rules for name in re.findall(r"\btagger_\w+", rule["expr"])}
    assert named and named <= exported, named - exported
