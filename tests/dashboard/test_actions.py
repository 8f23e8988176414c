"""dashboard/actions.py: an admin action's TaggerError becomes one st.error; a bug propagates."""

from __future__ import annotations

import pytest

from core.errors import MissingFileError, TaggerError
from core.lifecycle.registry import NoActiveModelError
from dashboard import actions
from dashboard.components import md_escape


@pytest.fixture
def shown(monkeypatch) -> list[tuple[str, str]]:
    """What run_admin showed, as (kind, text); a rerun is recorded instead of raised."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(actions.st, "error", lambda text: calls.append(("error", text)))
    monkeypatch.setattr(actions.st, "toast", lambda text: calls.append(("toast", text)))
    monkeypatch.setattr(actions.st, "rerun", lambda: calls.append(("rerun", "")))
    return calls


@pytest.mark.parametrize(
    "error",
    [NoActiveModelError("no model is active"), MissingFileError("not found on the server: /x")],
)
def test_an_expected_failure_is_one_error_line(shown, error: TaggerError) -> None:
    def action() -> None:
        raise error

    actions.run_admin(action, success="done")
    assert shown == [("error", md_escape(str(error)))]


def test_a_bug_is_not_turned_into_a_message(shown) -> None:
    def action() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        actions.run_admin(action, success="done")
    assert shown == []


def test_success_shows_the_message_and_reruns(shown) -> None:
    actions.run_admin(lambda: None, success="promoted")
    assert shown == [("toast", "promoted"), ("rerun", "")]


def test_a_missing_server_path_is_refused_before_a_job_starts(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(actions.state, "require", lambda db, role: None)
    with pytest.raises(MissingFileError, match="not found on the server"):
        actions.ingest_paths(None, paths=[str(tmp_path / "nowhere")])
