"""One moderator in Chromium, run by scripts/bench/media_serving.py in its own process group:

    python scripts/bench/media_browser.py URL USERNAME PASSWORD OPENS

Signs in, takes the next video from the queue, then skips to the next one ``OPENS - 1`` times.
Each open is timed from the click to the player having the new video's metadata
(``readyState >= 1``), and the player's own part from its element appearing in the page to its
``loadedmetadata``; prints ``{"open_s": [...], "player_s": [...]}`` as one JSON line.
"""

from __future__ import annotations

import json
import re
import sys
import time

from playwright.sync_api import sync_playwright

from scripts.bench.live_dashboard import CHROMIUM, CHROMIUM_ARGS

TIMEOUT_MS = 120_000
# the review page's caption starts with "#<video id>"; the player must be that video's and ready
_READY = """prev => {
  const caption = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .map(e => e.textContent).find(t => /^#\\d+/.test(t.trim()));
  const video = document.querySelector('video');
  if (!caption || !video) return false;
  const id = caption.trim().match(/^#(\\d+)/)[1];
  const src = video.getAttribute('src');
  if (id === prev.id || src === prev.src || video.readyState < 1) return false;
  const seen = window.__playerSeen.get(video), ready = window.__playerReady.get(video);
  return [id, src, seen !== undefined && ready !== undefined ? ready - seen : null];
}"""
# when each player element appeared and when it had its metadata (page clock, ms)
_PLAYER_CLOCK = """
window.__playerSeen = new WeakMap(); window.__playerReady = new WeakMap();
new MutationObserver(() => {
  for (const v of document.querySelectorAll('video'))
    if (!window.__playerSeen.has(v)) window.__playerSeen.set(v, performance.now());
}).observe(document, {childList: true, subtree: true});
document.addEventListener('loadedmetadata', e => {
  if (!window.__playerReady.has(e.target)) window.__playerReady.set(e.target, performance.now());
}, true);
"""


def _idle(page) -> None:
    """Until Streamlit has finished the current run (not timed: the next click waits for it).

    The player is ready before the form below it is drawn, and the previous video's form stays
    in the page, marked stale, until the run ends: a click before then finds two Skip buttons.
    """
    page.wait_for_timeout(200)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "document.querySelectorAll('[data-stale=\"true\"]').length === 0", timeout=TIMEOUT_MS
    )


def main(url: str, username: str, password: str, opens: int) -> dict:
    times, player_ms = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.add_init_script(_PLAYER_CLOCK)
        page.goto(url)
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Password").fill(password)
        page.get_by_role("textbox", name="Password").press("Enter")
        page.get_by_role("heading", name="Review queue").wait_for()
        _idle(page)
        previous = {"id": None, "src": None}
        for i in range(opens):
            button = page.get_by_role("button", name="Review next" if i == 0 else "Skip")
            started = time.perf_counter()
            button.click()
            handle = page.wait_for_function(_READY, arg=previous, timeout=TIMEOUT_MS)
            times.append(time.perf_counter() - started)
            video_id, src, player = handle.json_value()
            previous = {"id": video_id, "src": src}
            if player is not None:
                player_ms.append(player)
            _idle(page)
        browser.close()
    return {"open_s": times, "player_s": [ms / 1000 for ms in player_ms]}


if __name__ == "__main__":
    if len(sys.argv) != 5 or not re.fullmatch(r"\d+", sys.argv[4]):
        raise SystemExit(__doc__)
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))))
