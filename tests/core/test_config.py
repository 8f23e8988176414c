"""core/config.py: the log line format's setting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.config import get_settings
from core.errors import ConfigurationError


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_log_lines_are_text_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAGGER_LOG_FORMAT", raising=False)
    assert get_settings().log_format == "text"


def test_json_log_lines_are_asked_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGGER_LOG_FORMAT", "json")
    assert get_settings().log_format == "json"


@pytest.mark.parametrize("value", ["JSON ", "logfmt", ""])
def test_another_log_format_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TAGGER_LOG_FORMAT", value)
    with pytest.raises(
        ConfigurationError, match="TAGGER_LOG_FORMAT: Input should be 'text' or 'json'"
    ):
        get_settings()
