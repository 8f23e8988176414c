"""The command that starts the dashboard server: one place for ``tagger serve`` and the
benchmarks' and tests' live servers, so they all run it the same way."""

from __future__ import annotations

import sys
from pathlib import Path

SERVER_FILE = Path(__file__).resolve().parent / "server.py"


def serve_command(*, host: str, port: int, server_file: Path = SERVER_FILE) -> list[str]:
    """``streamlit run`` of ``server_file`` (the dashboard, its routes and the API) on
    ``host:port``, headless, without usage statistics, its log lines set up before Streamlit
    starts (:mod:`dashboard.run_streamlit`)."""
    return [
        sys.executable,
        "-m",
        "dashboard.run_streamlit",
        "run",
        str(server_file),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
