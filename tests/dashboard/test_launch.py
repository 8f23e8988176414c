"""dashboard/launch.py: the one command that starts the dashboard server, and `tagger serve`
stopping with the signal a supervisor sends."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.config import Settings
from dashboard.launch import SERVER_FILE, serve_command
from tests.support.browser import free_port

ROOT = Path(__file__).resolve().parents[2]
START_S = 90


def test_serve_command_runs_the_server_file_headless_on_the_address() -> None:
    command = serve_command(host="0.0.0.0", port=8642)
    assert command[:5] == [sys.executable, "-m", "dashboard.run_streamlit", "run", str(SERVER_FILE)]
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options == {
        "--server.port": "8642",
        "--server.address": "0.0.0.0",
        "--server.headless": "true",
        "--browser.gatherUsageStats": "false",
    }
    assert SERVER_FILE.is_file()


@pytest.mark.slow
def test_the_server_settings_apply_from_any_working_directory(tmp_path: Path) -> None:
    """Streamlit reads dashboard/.streamlit/config.toml beside the server file, also when the
    server is started from another folder: no traceback shown to browsers, no source watching,
    no full garbage collection after every run."""
    script = (
        "import json, sys; from streamlit import config; "
        "config._main_script_path = sys.argv[1]; config.get_config_options(force_reparse=True); "
        "print(json.dumps([config.get_option(name) for name in sys.argv[2:]]))"
    )
    names = ["client.showErrorDetails", "server.fileWatcherType", "runner.postScriptGC"]
    done = subprocess.run(
        [sys.executable, "-c", script, str(SERVER_FILE), *names],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == ["none", "none", False]


def test_sigterm_to_tagger_serve_stops_the_server_and_frees_its_port(settings: Settings) -> None:
    """What `kill`, `docker stop` and process supervisors send: the server must go with it.
    (When `tagger serve` ran Streamlit as a child, the CLI died and the server kept the port.)"""
    port = free_port()
    with (settings.data_dir / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "scripts", "serve", "--port", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_S
        while not _healthy(port):
            assert server.poll() is None and time.monotonic() < deadline, (
                settings.data_dir / "serve.log"
            ).read_text()[-2000:]
            time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        with socket.socket() as s:  # refused while anything of the server still listens
            # (SO_REUSEADDR: the health checks' closed connections may linger in TIME_WAIT,
            # which alone refuses a plain bind; a listener still refuses this one)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False
