"""The dashboard's pages do not load the model stack (torch, scikit-learn, PyAV) to render."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = (
    "torch",
    "sklearn",
    "sentence_transformers",
    "transformers",
    "av",
    "core.lifecycle.registry",
    "core.ingest.batch",
)
SHARED = (
    "dashboard.actions",
    "dashboard.cache",
    "dashboard.state",
    "dashboard.components",
    "dashboard.review_data",
    "dashboard.readers",
)


@pytest.mark.slow
def test_shared_dashboard_modules_load_no_heavy_library() -> None:
    code = (
        f"import sys; import {', '.join(SHARED)}; print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
