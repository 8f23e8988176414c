"""What a dashboard server costs while moderators leave it open: CPU seconds of `tagger serve`
(its whole process tree) per minute, first with nobody connected, then watched as a deployment
watches it (its liveness and readiness probes every 10 s, a Prometheus scrape of its metrics
every 15 s), then with ``--tabs`` signed-in Review queue tabs (headless Chromium, a browser
context each; the queue page checks every 2 s whether a ranking job runs), on a DuckDB of
``--videos`` predicted videos (``scripts.bench.dashboard_pages.populate``). Chromium's own CPU
is not counted.

    .venv/bin/python -m scripts.bench.idle_server --videos 1000 --tabs 5 --seconds 60

Compare code versions by running it in each tree in turn: the figures move with the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from scripts.bench import live_dashboard
from scripts.bench.live_dashboard import CHROMIUM, CHROMIUM_ARGS
from scripts.bench.ray_cluster import descendants

SETTLE_S = 10  # after the server answers, and after the tabs opened: start-up work ends


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and every process below it, so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for process in [pid, *(child for child, _ in descendants(pid))]:
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        total += int(fields[11]) + int(fields[12])
    return total / tick


def cpu_per_minute(pid: int, seconds: float) -> float:
    before = tree_cpu_s(pid)
    time.sleep(seconds)
    return (tree_cpu_s(pid) - before) * 60 / seconds


PROBE_EVERY_S = 10  # a Kubernetes probe's default period
SCRAPE_EVERY_S = 15  # a common Prometheus scrape interval


def watched_cpu_per_minute(url: str, token: str, pid: int, seconds: float) -> float:
    """CPU per minute of ``pid``'s tree while a thread asks ``/api/v1/health`` and ``/ready``
    every 10 s and ``/api/v1/metrics`` every 15 s."""
    stop = threading.Event()

    def watch() -> None:
        started = time.monotonic()
        probed = scraped = -math.inf
        with httpx.Client(base_url=f"{url}/api/v1", timeout=30) as client:
            while not stop.wait(0.5):
                now = time.monotonic() - started
                if now - probed >= PROBE_EVERY_S:
                    client.get("/health").raise_for_status()
                    client.get("/ready").raise_for_status()
                    probed = now
                if now - scraped >= SCRAPE_EVERY_S:
                    scrape = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
                    scrape.raise_for_status()
                    scraped = now

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return cpu_per_minute(pid, seconds)
    finally:
        stop.set()
        watcher.join(30)


def _tabs_session(url: str, password: str, tabs: int, server_pid: int, seconds: float) -> dict:
    """The browser child: open ``tabs`` signed-in queue pages, let them settle, measure."""
    from playwright.sync_api import sync_playwright

    from scripts.bench.review import sign_in

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(tabs):
            page = browser.new_context().new_page()
            page.set_default_timeout(120_000)
            sign_in(page, url, "mod", password)
        time.sleep(SETTLE_S)
        measured = cpu_per_minute(server_pid, seconds)
        browser.close()
    return {"cpu_s_per_min": measured}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--tabs", type=int, default=5, help="0: no browser")
    parser.add_argument("--seconds", type=float, default=60, help="each measurement's length")
    parser.add_argument("--browser", nargs=3, metavar=("URL", "PASSWORD", "PID"), help="child")
    args = parser.parse_args()
    if args.browser:  # the child process
        url, password, pid = args.browser
        print(json.dumps(_tabs_session(url, password, args.tabs, int(pid), args.seconds)))
        return

    from core import tokens
    from core.config import get_settings
    from core.lifecycle.jobs import settings_environment
    from db.engine import get_database
    from scripts.bench.common import fresh_settings
    from scripts.bench.dashboard_pages import PASSWORD, populate

    work = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    try:
        settings = fresh_settings(get_settings(), work / "data")
        populate(settings, args.videos)
        token = tokens.create_token(
            get_database(settings), name="prometheus", username="mod", scope="read"
        ).secret
        env = settings_environment(settings)
        with live_dashboard.dashboard_server(env, work / "server.log") as (url, pid):
            time.sleep(SETTLE_S)
            alone = cpu_per_minute(pid, args.seconds)
            watched = watched_cpu_per_minute(url, token, pid, args.seconds)
            with_tabs = None
            if args.tabs:
                child = [sys.executable, "-m", "scripts.bench.idle_server"]
                child += ["--tabs", str(args.tabs), "--seconds", str(args.seconds)]
                child += ["--browser", url, PASSWORD, str(pid)]
                timeout_s = args.seconds + 60 * args.tabs + 120
                with_tabs = live_dashboard.run_browser_command(child, timeout_s=timeout_s)
        print(f"| server | CPU s a minute ({args.videos:,} videos, {args.seconds:.0f} s each) |")
        print("|---|---:|")
        print(f"| nobody connected | {alone:.2f} |")
        print(
            f"| probed every {PROBE_EVERY_S} s, scraped every {SCRAPE_EVERY_S} s | {watched:.2f} |"
        )
        if with_tabs is not None:
            print(f"| {args.tabs} queue tabs open | {with_tabs['cpu_s_per_min']:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
