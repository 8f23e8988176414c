"""core/errors.py: every expected error type of the product derives from TaggerError."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from core.errors import ConfigurationError, MissingFileError, TaggerError

REPO = Path(__file__).resolve().parents[2]

# every error type users can cause, by module; a new one belongs here and under TaggerError
EXPECTED = {
    "db.engine": ["DatabaseError", "DatabaseBusyError", "SchemaTooNewError"],
    "db.queries": [
        "NotFoundError",
        "DuplicateError",
        "StaleVersionError",
        "UnknownNodeError",
        "TaxonomyInUseError",
    ],
    "db.queries.review": ["VideoClaimedError"],
    "core.auth": [
        "AuthError",
        "InvalidCredentialsError",
        "RateLimitedError",
        "PermissionDeniedError",
        "InvalidUserError",
        "UnknownUserError",
    ],
    "core.backup": ["BackupError", "RestoreTargetNotEmptyError"],
    "core.dataset": ["DatasetError", "DatasetImportError"],
    "core.taxonomy": ["TaxonomyError", "UnknownTagError"],
    "core.media.decode": ["MediaError"],
    "core.media.subtitles": ["SubtitleError"],
    "core.media.transcribe": ["TranscriberError"],
    "core.encoders.base": ["InvalidEncoderInput"],
    "core.encoders.imagebind": ["ImageBindCheckpointError"],
    "core.ingest.batch": ["IngestError", "UploadRejected"],
    "core.ingest.pipeline": ["EmbeddingError"],
    "core.lifecycle.jobs": ["JobError"],
    "core.lifecycle.training": ["TrainingError", "NotEnoughDataError"],
    "core.lifecycle.registry": ["RegistryError", "NoActiveModelError", "ArtifactError"],
    "scripts.demo.command": ["DemoError"],
    "scripts.demo.plan": ["DemoCorpusError"],
    "scripts.mediagen": ["MediaGenError"],
}


@pytest.mark.parametrize(
    ("module", "name"), [(m, n) for m, names in EXPECTED.items() for n in names]
)
def test_expected_error_types_derive_from_tagger_error(module: str, name: str) -> None:
    assert issubclass(getattr(importlib.import_module(module), name), TaggerError)


def test_every_error_class_in_the_product_is_listed() -> None:
    """A new ``class ...Error`` in core/, db/ or scripts/ must be listed above (and so checked)."""
    listed = {(m, n) for m, names in EXPECTED.items() for n in names}
    found = set()
    for folder in ("core", "db", "scripts", "dashboard"):
        for path in (REPO / folder).rglob("*.py"):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(
                ".__init__"
            )
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.ClassDef) and _looks_like_an_exception(node):
                    found.add((module, node.name))
    assert found - {("core.errors", n) for n in ("TaggerError", "ConfigurationError")} == listed | {
        ("core.errors", "MissingFileError")
    }


def _looks_like_an_exception(node: ast.ClassDef) -> bool:
    bases = [ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases]
    return node.name.endswith("Error") or any(
        base.endswith(("Error", "Exception", "Rejected")) for base in bases
    )


def test_generic_errors_keep_their_builtin_meaning() -> None:
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(MissingFileError, FileNotFoundError)
    assert str(MissingFileError("no such folder: x")) == "no such folder: x"


def test_core_errors_imports_nothing() -> None:
    tree = ast.parse((REPO / "core" / "errors.py").read_text(encoding="utf-8"))
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
