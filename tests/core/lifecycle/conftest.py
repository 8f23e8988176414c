"""Fixtures of the lifecycle tests: jobs whose start is recorded, not run."""

from __future__ import annotations

import pytest

from core.lifecycle import jobs


@pytest.fixture
def launched(monkeypatch) -> list[int]:
    """Jobs whose worker would have been started (none is: these tests check the decision)."""
    started: list[int] = []
    monkeypatch.setattr(jobs, "launch", lambda db, job_id, *, settings: started.append(job_id))
    return started
