"""Property-based fuzzing of the OpenAPI schema (schemathesis): every operation, a bounded number
of generated requests with an admin token, and no answer may be a 5xx. DuckDB only: the
routes are the same code on both backends, which the other API tests cover. Marked slow: each
generated upload is probed like a real one."""

from __future__ import annotations

from pathlib import Path

import hypothesis
import hypothesis.configuration
import pytest
import schemathesis
from fastapi.testclient import TestClient

from dashboard.api import create_api
from tests.dashboard.api.conftest import add_video

EXAMPLES_PER_OPERATION = 5
_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)


def _server_errors(operation, headers: dict[str, str]) -> list[tuple[str, int, str]]:
    """Generated requests of one operation that got a 5xx: (operation, status, body start)."""
    found: list[tuple[str, int, str]] = []

    @_SETTINGS
    @hypothesis.given(case=operation.as_strategy())
    def check(case) -> None:
        case.headers = {**(case.headers or {}), **headers}
        response = case.call()
        if response.status_code >= 500:
            found.append((operation.label, response.status_code, response.text[:300]))

    check()
    return found


@pytest.mark.slow
@pytest.mark.parametrize("database", ["duckdb"], indirect=True)
def test_generated_requests_never_get_a_server_error(api, tmp_path: Path, monkeypatch):
    # hypothesis keeps a cache in ./.hypothesis; keep the working directory untouched
    monkeypatch.setattr(hypothesis.configuration, "__hypothesis_home_directory", tmp_path / "hyp")
    api.settings.api_rate_limit_per_minute = 100_000
    app = create_api(settings=api.settings, db=api.db, start_job=api.jobs)
    add_video(api, title="fuzzed")  # video 1 exists, so some requests reach the handlers' depths
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/v1/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 30
        failures = [e for op in operations for e in _server_errors(op, api.auth("admin"))]
    assert failures == []
