"""dashboard/server_logs.py: with TAGGER_LOG_FORMAT=json every line the server writes to stderr
is a JSON object, Streamlit's and uvicorn's included; text lines otherwise. Each case runs in a
fresh interpreter, as the server's logging is set up once per process."""

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

import httpx
import pytest

from core.config import Settings
from tests.support.browser import free_port

ROOT = Path(__file__).resolve().parents[2]
START_S = 90

# Loggers of every kind the server has: a Streamlit logger made before the setup, one made
# after it, both again after Streamlit parsed its config once more (which gives each of its
# loggers a new console handler), uvicorn's (set up by Streamlit, then by uvicorn, which leaves
# it no handler) and the product's own.
LOGS_OF_A_SERVER = """
import logging, sys
import uvicorn
from streamlit import config
from streamlit.logger import get_logger
from core.config import get_settings
from dashboard.server_logs import set_up_server_logs

config._main_script_path = sys.argv[1]
config.get_config_options(force_reparse=True)
uvicorn.Config("server:app", access_log=False)  # as Streamlit's runner makes it
before = get_logger("streamlit.before")
set_up_server_logs(get_settings())
before.warning("made before")
logging.getLogger("uvicorn.error").warning("uvicorn's")
after = get_logger("streamlit.after")
after.warning("made after")
config.get_config_options(force_reparse=True)
before.warning("made before, config parsed again")
after.warning("made after, config parsed again")
try:
    raise ValueError("the product's failure")
except ValueError:
    logging.getLogger("core.webhooks").exception("the product's", extra={"attempt": 2})
"""


def _stderr_lines(log_format: str, tmp_path: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", LOGS_OF_A_SERVER, str(ROOT / "dashboard" / "server.py")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TAGGER_LOG_FORMAT": log_format},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stderr.splitlines()


def test_json_every_line_is_a_json_object(tmp_path: Path) -> None:
    records = [json.loads(line) for line in _stderr_lines("json", tmp_path)]

    assert [(r["logger"], r["message"]) for r in records] == [
        ("streamlit.before", "made before"),
        ("uvicorn.error", "uvicorn's"),
        ("streamlit.after", "made after"),
        ("streamlit.before", "made before, config parsed again"),
        ("streamlit.after", "made after, config parsed again"),
        ("core.webhooks", "the product's"),
    ]
    assert records[-1]["level"] == "ERROR"
    assert records[-1]["attempt"] == 2
    assert records[-1]["exception"].endswith("ValueError: the product's failure")


def test_text_lines_stay_text(tmp_path: Path) -> None:
    lines = _stderr_lines("text", tmp_path)

    assert " WARNING streamlit.before: made before" in lines[0]
    assert lines[1] == "uvicorn's"  # bare, as Python writes what no handler takes
    assert " WARNING streamlit.after: made after" in lines[2]
    assert " ERROR core.webhooks: the product's" in lines[5]
    assert lines[-1] == "ValueError: the product's failure"


@pytest.mark.slow
def test_a_real_server_writes_only_json_lines(settings: Settings) -> None:
    """`tagger serve` itself: dashboard/server.py sets the logs up, and a line of the product's
    (a single sign-on that did not complete) and one of uvicorn's (a request that is not HTTP,
    from a logger left with no handler) come as JSON."""
    port = free_port()
    stderr = settings.data_dir / "serve.err"
    with stderr.open("wb") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "scripts", "serve", "--port", str(port)],
            cwd=ROOT,
            env={
                **os.environ,
                "TAGGER_LOG_FORMAT": "json",
                "TAGGER_OIDC_ISSUER": "http://127.0.0.1:9/",
                "TAGGER_OIDC_CLIENT_ID": "tagger",
            },
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, stderr.read_text()
                time.sleep(0.5)
        httpx.get(f"{base}/auth/sso/callback", timeout=10)  # no sign-in was started
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"NOT HTTP\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 400")
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)

    records = [json.loads(line) for line in stderr.read_text().splitlines()]
    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        (
            "WARNING",
            "dashboard.routes.sso",
            (
                "single sign-on did not complete: this browser started no sign-in (or its cookie "
                "was blocked)"
            ),
        ),
        ("WARNING", "uvicorn.error", "Invalid HTTP request received."),
    ]


@pytest.mark.slow
def test_a_server_that_cannot_start_says_why_in_json(settings: Settings) -> None:
    """What Streamlit logs before it loads the server file (here: the port is taken) comes as
    JSON too: `tagger serve` sets the logs up before Streamlit starts."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "scripts", "serve", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "TAGGER_LOG_FORMAT": "json"},
            capture_output=True,
            text=True,
            timeout=START_S,
            check=False,
        )
    assert done.returncode != 0
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(
        r["level"] == "ERROR" and f"Port {port} is not available" in r["message"] for r in records
    ), done.stderr
