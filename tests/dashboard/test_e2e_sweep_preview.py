"""End to end in a real browser: a tag sweep card previews its video on hover, click and the
preview key, streamed from the media route with Range requests, and stops when left.

The dashboard runs in its own process group and the Playwright session in a child process group
with a hard deadline (:func:`tests.support.browser.run_in_browser`): a stuck headless Chromium is
killed, never waited for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core import taxonomy as taxonomy_core
from core.config import Settings
from dashboard.components import PREVIEW_KEY, PREVIEW_S
from db.engine import get_database
from db.queries import videos
from db.tables import VideoStatus
from scripts.bench import review as bench
from scripts.bench.dashboard_pages import PASSWORD
from tests.support.browser import browser_available, run_in_browser, serve_dashboard

pytestmark = pytest.mark.slow

BROWSER_DEADLINE_S = 180
N_VIDEOS = 30
PLAYED_S = 0.5  # how far past its start a preview must play to count as playing
CARDS = ".tagger-preview[data-preview-src]"
PLAYING = f"v => !v.paused && v.currentTime > Number(v.dataset.from) + {PLAYED_S}"


def _tier1_tag_with_open_videos(settings: Settings) -> str:
    """The top-level tag of the first unreviewed video (its sweep is not empty)."""
    tax = taxonomy_core.load_iab3()
    with get_database(settings).session() as s:
        rows = videos.get_videos(s, video_ids=range(1, N_VIDEOS + 1))
    top = next(v.top_tag for v in rows if v.status == VideoStatus.PREDICTED)
    return next(a.name for a in [tax.node(top), *tax.ancestors(top)] if not tax.parents(a.id))


def _media_request(seen: dict, request) -> None:
    if "/files/videos/" in request.url:
        seen["requests"] += 1


def _media_response(seen: dict, response) -> None:
    if "/files/videos/" in response.url:
        seen["media"].append(
            {
                "range": response.request.headers.get("range"),
                "status": response.status,
                "content_range": response.headers.get("content-range"),
            }
        )


def _preview(browser, url: str, password: str, tag: str) -> dict:
    """The browser session (child process): hover, leave, the preview key, a click."""
    seen: dict = {"media": [], "requests": 0}
    page = browser.new_page(viewport={"width": 1440, "height": 1200})
    page.set_default_timeout(60_000)
    page.on("request", lambda request: _media_request(seen, request))
    page.on("response", lambda response: _media_response(seen, response))
    bench.sign_in(page, url, "mod", password)
    bench.open_page(page, "Tag sweep", "Tag sweep")
    bench.pick_tag(page, tag)
    cards = page.locator(CARDS)
    cards.first.wait_for()
    seen["cards"] = cards.count()
    seen["requests_before_hover"] = seen["requests"]  # preload="none": nothing until asked

    first = cards.first
    first.hover()
    video = first.locator("video")
    page.wait_for_function(PLAYING, arg=video.element_handle(), timeout=30_000)
    seen["hover"] = video.evaluate(
        "v => ({muted: v.muted, preload: v.preload, src: v.getAttribute('src'),"
        " from: Number(v.dataset.from), duration: v.duration})"
    )
    page.mouse.move(1, 1)  # leave the card
    video.wait_for(state="detached")
    requests_at_leave = seen["requests"]
    page.wait_for_timeout(1000)
    seen["requests_after_leave"] = seen["requests"] - requests_at_leave

    # keyboard: the focused card's box, the preview key; Tab to the next card stops it
    page.locator(f'[data-testid="stColumn"]:has({CARDS}) input[type="checkbox"]').first.focus()
    page.keyboard.press(PREVIEW_KEY.lower())
    page.wait_for_function(PLAYING, arg=video.element_handle(), timeout=30_000)
    page.keyboard.press("Tab")
    video.wait_for(state="detached")
    seen["key"] = True

    # a click (a tap on a touch screen) without hovering first
    second = cards.nth(1)
    second.dispatch_event("click")
    page.wait_for_function(PLAYING, arg=second.locator("video").element_handle(), timeout=30_000)
    seen["click"] = True
    seen["videos_on_page"] = page.locator("video").count()
    return seen


def test_a_sweep_card_previews_its_video(settings: Settings, bigbuckbunny: Path) -> None:
    if reason := browser_available():
        pytest.skip(reason)
    bench.populate(settings, N_VIDEOS, bigbuckbunny)
    tag = _tier1_tag_with_open_videos(settings)
    with serve_dashboard(settings.data_dir) as server:
        seen = run_in_browser(_preview, server.url, PASSWORD, tag, timeout_s=BROWSER_DEADLINE_S)

    assert seen["cards"] >= 2 and seen["requests_before_hover"] == 0
    hover = seen["hover"]
    assert hover["muted"] and hover["preload"] == "none" and "/files/videos/" in hover["src"]
    # populate records 30 s; the clip is shorter, so the window moved back to fit the file
    assert 0 <= hover["from"] <= max(0.0, hover["duration"] - PREVIEW_S) + 0.01
    ranged = [m for m in seen["media"] if m["range"]]
    assert ranged and all(m["status"] == 206 and m["content_range"] for m in ranged)
    assert seen["requests_after_leave"] == 0
    assert seen["key"] and seen["click"] and seen["videos_on_page"] == 1
