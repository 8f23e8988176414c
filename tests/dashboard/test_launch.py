"""dashboard/launch.py: the one command that starts the dashboard server."""

from __future__ import annotations

import sys

from dashboard.launch import SERVER_FILE, serve_command


def test_serve_command_runs_the_server_file_headless_on_the_address() -> None:
    command = serve_command(host="0.0.0.0", port=8642)
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(SERVER_FILE)]
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options == {
        "--server.port": "8642",
        "--server.address": "0.0.0.0",
        "--server.headless": "true",
        "--browser.gatherUsageStats": "false",
    }
    assert SERVER_FILE.is_file()
