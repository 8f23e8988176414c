"""core/errors.py: every expected error type of the product derives from TaggerError."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from core.errors import ConfigurationError, MissingFileError, TaggerError
from tests.support.source import parse_file

REPO = Path(__file__).resolve().parents[2]


def _looks_like_an_exception(node: ast.ClassDef) -> bool:
    bases = [ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases]
    return node.name.endswith("Error") or any(
        base.endswith(("Error", "Exception", "Rejected")) for base in bases
    )


def _error_classes() -> list[tuple[str, str]]:
    """Every ``class ...Error`` (or subclass of one) defined in core/, db/, scripts/ and dashboard/,
    found by reading the source, so a new one is checked without being listed anywhere."""
    found = []
    for folder in ("core", "db", "scripts", "dashboard"):
        for path in sorted((REPO / folder).rglob("*.py")):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(
                ".__init__"
            )
            for node in parse_file(path).body:
                if (
                    isinstance(node, ast.ClassDef)
                    and not node.name.startswith("_")  # private control flow, never shown
                    and _looks_like_an_exception(node)
                ):
                    found.append((module, node.name))
    return found


def test_the_scan_finds_the_known_error_types() -> None:
    found = set(_error_classes())
    assert {("db.engine", "DatabaseError"), ("core.media.decode", "MediaError")} <= found
    assert len(found) > 40


@pytest.mark.parametrize(("module", "name"), _error_classes())
def test_every_error_type_derives_from_tagger_error(module: str, name: str) -> None:
    assert issubclass(getattr(importlib.import_module(module), name), TaggerError)


def test_generic_errors_keep_their_builtin_meaning() -> None:
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(MissingFileError, FileNotFoundError)
    assert str(MissingFileError("no such folder: x")) == "no such folder: x"


def test_core_errors_imports_nothing() -> None:
    tree = parse_file(REPO / "core" / "errors.py")
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert [getattr(n, "module", None) for n in imports] == ["__future__"]


def test_a_bad_environment_value_is_a_configuration_error(monkeypatch) -> None:
    from core.config import get_settings

    monkeypatch.setenv("TAGGER_NUM_KEYFRAMES", "many")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="TAGGER_NUM_KEYFRAMES"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_half_a_single_sign_on_setting_is_a_configuration_error_in_words(monkeypatch) -> None:
    """An issuer without a client id would offer no single sign-on without saying why."""
    from core.config import get_settings

    monkeypatch.setenv("TAGGER_OIDC_ISSUER", "https://idp.example.com")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError) as refused:
            get_settings()
        assert str(refused.value) == (
            "invalid settings: single sign-on needs both TAGGER_OIDC_ISSUER and "
            "TAGGER_OIDC_CLIENT_ID"
        )
        monkeypatch.setenv("TAGGER_OIDC_CLIENT_ID", "tagger")
        get_settings.cache_clear()
        assert get_settings().oidc_client_id == "tagger"
    finally:
        get_settings.cache_clear()
