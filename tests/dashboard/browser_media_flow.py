"""One browser session against a running dashboard, run by test_media_browser.py in its own
process group: ``python browser_media_flow.py URL USERNAME PASSWORD``.

Signs in through the HTML form, reloads, opens the next video for review, plays it, fetches
media without the cookie, signs out; prints what it saw as one JSON line for the test to judge.
"""

from __future__ import annotations

import json
import sys

from playwright.sync_api import sync_playwright

from dashboard.routes import media, session
from scripts.bench.live_dashboard import CHROMIUM, CHROMIUM_ARGS

TIMEOUT_MS = 60_000


def _idle(page) -> None:
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT_MS)


def main(url: str, username: str, password: str) -> dict:
    seen: dict = {"media_responses": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on(
            "response",
            lambda r: (
                "/files/videos/" in r.url
                and seen["media_responses"].append(
                    {"status": r.status, "content_range": r.headers.get("content-range")}
                )
            ),
        )
        page.goto(url)
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Password").fill(password)
        page.get_by_role("textbox", name="Password").press("Enter")
        page.get_by_role("heading", name="Review queue").wait_for()
        cookies = {c["name"]: c for c in context.cookies()}
        cookie = cookies.get(session.COOKIE, {})
        seen["cookie"] = {k: cookie.get(k) for k in ("httpOnly", "sameSite", "secure", "path")}
        seen["token_in_html"] = bool(cookie) and cookie["value"] in page.content()

        page.reload()
        page.get_by_role("heading", name="Review queue").wait_for()
        seen["after_reload"] = "Review queue"

        page.get_by_role("button", name="Review next").click()
        page.get_by_role("heading", name="Review", exact=True).wait_for()
        _idle(page)
        video = page.locator("video").first
        video.wait_for()
        seen["video_src"] = video.get_attribute("src")
        page.wait_for_function(
            "() => document.querySelector('video').readyState >= 1", timeout=TIMEOUT_MS
        )
        seen["duration"] = video.evaluate("v => v.duration")
        video.evaluate("v => { v.muted = true; return v.play(); }")
        page.wait_for_function(
            "() => document.querySelector('video').currentTime > 0.3", timeout=TIMEOUT_MS
        )
        seen["played_to"] = video.evaluate("v => v.currentTime")

        video_path = seen["video_src"].split("#")[0]
        anonymous = browser.new_context()
        seen["anonymous_status"] = anonymous.request.get(url + video_path).status
        anonymous.close()

        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("textbox", name="Username").wait_for()
        seen["cookie_after_sign_out"] = session.COOKIE in {c["name"] for c in context.cookies()}
        seen["media_after_sign_out"] = context.request.get(url + video_path).status
        page.reload()
        page.get_by_role("textbox", name="Username").wait_for()
        seen["after_sign_out_reload"] = "sign-in page"
        seen["video_url_prefix"] = media.video_url(0).rsplit("/", 1)[0]
        browser.close()
    return seen


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
