"""End to end in a real browser, keyboard only: a moderator opens, corrects, saves, skips,
flags and goes back to a video without the mouse (Streamlit shortcuts plus the page's
player/search keys).

The dashboard runs in its own process group and the Playwright session in a child process group
with a hard deadline (:func:`tests.support.browser.run_in_browser`): a stuck headless Chromium is
killed, never waited for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core import taxonomy as taxonomy_core
from core.config import Settings
from db.engine import get_database
from db.queries import audit, labels, videos
from db.tables import AuditAction, VideoStatus
from scripts.bench import review as bench
from scripts.bench.dashboard_pages import PASSWORD
from tests.support.browser import (
    browser_available,
    run_in_browser,
    serve_dashboard,
    until_reported,
)

pytestmark = pytest.mark.slow

BROWSER_DEADLINE_S = 300
FIRST_BOX = """() => {
  const box = document.querySelector('[data-testid="stCheckbox"] input');
  return box !== null && box.checked;
}"""


def _next_video(page, old: str) -> None:
    """Until another video's form is shown and nothing of the previous one is left (a key
    pressed earlier would reach the old form, which ignores it)."""
    page.wait_for_function(bench._NEW_ID, arg=old)
    bench._settled(page, page.evaluate(bench._ID_OF_PAGE))


def _drive(browser, url: str, password: str) -> dict:
    """The browser session (child process): every step is a key press."""
    seen: dict = {}
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    page.set_default_timeout(90_000)
    bench.sign_in(page, url, "mod", password)
    bench.open_page(page, "Review", "Review")
    page.get_by_role("button", name="Review next").wait_for()
    page.keyboard.press("s")
    _next_video(page, "")
    seen["first"] = page.evaluate(bench._ID_OF_PAGE)
    page.get_by_role("button", name="Save & next").wait_for()
    # the form's first suggestion starts ticked: waited for, as a loaded machine may draw the
    # button before the checkbox's state (one run of the whole suite saw it unticked at once)
    page.wait_for_function(FIRST_BOX, timeout=30_000)
    seen["ticked_at_start"] = page.evaluate(FIRST_BOX)
    page.keyboard.press("1")  # toggle the first suggestion
    page.wait_for_function(f"!({FIRST_BOX})()")
    page.keyboard.press("a")  # accept all suggestions
    page.wait_for_function(f"({FIRST_BOX})()")
    bench._idle(page)

    video = page.locator("video")
    video.wait_for()
    page.wait_for_function("document.querySelector('video').readyState >= 1")
    page.keyboard.press("k")  # play
    page.wait_for_function("!document.querySelector('video').paused")
    page.keyboard.press("k")  # pause
    page.wait_for_function("document.querySelector('video').paused")
    before = page.evaluate("document.querySelector('video').currentTime")
    page.keyboard.press("l")  # forward
    page.wait_for_function(f"document.querySelector('video').currentTime > {before} + 1")
    page.keyboard.press("j")  # back
    page.wait_for_function(f"document.querySelector('video').currentTime < {before} + 1")
    seen["player_keys"] = True

    page.keyboard.press("/")  # focus the tag search, type, pick with Enter
    page.keyboard.type("table tenn", delay=30)
    page.get_by_role("option", name="Sports: Table Tennis", exact=True).wait_for()
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("s")  # save & next
    _next_video(page, seen["first"])
    until_reported(page, f"Saved video {seen['first']}.")
    seen["second"] = page.evaluate(bench._ID_OF_PAGE)
    page.keyboard.press("n")  # skip
    _next_video(page, seen["second"])
    seen["third"] = page.evaluate(bench._ID_OF_PAGE)
    page.keyboard.press("f")  # flag
    _next_video(page, seen["third"])
    seen["fourth"] = page.evaluate(bench._ID_OF_PAGE)
    until_reported(page, f"Flagged video {seen['third']}.")
    page.keyboard.press("b")  # back to the flagged video
    _next_video(page, seen["fourth"])
    seen["back"] = page.evaluate(bench._ID_OF_PAGE)
    return seen


def test_keyboard_drives_a_full_review(settings: Settings, bigbuckbunny: Path) -> None:
    if reason := browser_available():
        pytest.skip(reason)
    bench.populate(settings, 30, bigbuckbunny)
    with serve_dashboard(settings.data_dir) as server:
        seen = run_in_browser(_drive, server.url, PASSWORD, timeout_s=BROWSER_DEADLINE_S)
    assert seen["ticked_at_start"]  # then "1" unticked it and "a" ticked it again (waited for)
    assert seen["player_keys"]
    first, second, third = (int(seen[k]) for k in ("first", "second", "third"))
    assert len({first, second, third, int(seen["fourth"])}) == 4
    assert int(seen["back"]) == third
    tennis = taxonomy_core.load_iab3().find("Sports: Table Tennis").id
    db = get_database(settings)
    with db.session() as s:
        saved = videos.get_video(s, video_id=first)
        assert saved.status == VideoStatus.REVIEWED
        assert tennis in {
            lab.node_id for lab in labels.get_labels(s, video_id=first, source="human")
        }
        skipped = videos.get_video(s, video_id=second)
        assert skipped.status == VideoStatus.PREDICTED and skipped.claimed_by is None
        assert audit.list_audit(s, video_id=second, action=AuditAction.RELEASE)
        assert videos.get_video(s, video_id=third).flagged
