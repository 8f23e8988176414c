"""End to end in a real browser: binary mode answered with its keys (and one click) lands as
ordinary reviews, ``P`` plays a muted preview, the next question shows while the answers are
written, a skipped video is released, and after a reload no question answered or skipped is
asked again.

The dashboard runs in its own process group and the Playwright session in a child process group
with a hard deadline (:func:`tests.support.browser.run_in_browser`).
"""

from __future__ import annotations

import pytest

from core.config import Settings
from db.engine import get_database
from db.queries import audit, labels, videos
from db.tables import AuditAction, VideoStatus
from scripts.bench import review as bench
from scripts.bench.dashboard_pages import PASSWORD
from tests.support.browser import browser_available, run_in_browser, serve_dashboard

pytestmark = pytest.mark.slow

BROWSER_DEADLINE_S = 240
PROGRESS = ".tagger-binary .progress"


ASKED_TAG = "() => document.querySelector('.tagger-binary .question-id').dataset.nodeId"
NEW_QUESTION = f"(old) => {{ const id = ({bench.QUESTION_ID})(); return id && id !== old; }}"


def _question(page) -> str:
    page.wait_for_function(f"() => ({bench.QUESTION_ID})() !== null")
    return page.evaluate(bench.QUESTION_ID)


def _next(page, old: str) -> str:
    page.wait_for_function(NEW_QUESTION, arg=old)
    return page.evaluate(bench.QUESTION_ID)


def _drive(browser, url: str, password: str) -> dict:
    """The browser session (child process)."""
    page = browser.new_page(viewport={"width": 1440, "height": 1200})
    page.set_default_timeout(60_000)
    bench.sign_in(page, url, "mod", password)
    bench.open_page(page, "Binary", "Binary review")
    asked: list[tuple[str, str, str]] = []
    current = _question(page)
    shown = page.locator(".tagger-binary h3").inner_text()
    page.keyboard.press("p")  # a muted preview of the video, played over the question
    page.wait_for_function(
        "() => { const v = document.querySelector('.tagger-binary video');"
        " return v !== null && v.muted && !v.paused && v.currentTime > 0; }"
    )
    previewed = page.evaluate("document.querySelector('.tagger-binary video').currentSrc")
    for key in ("a", "x", "n", "a"):
        asked.append((current, page.evaluate(ASKED_TAG), key))
        page.keyboard.press(key)
        current = _next(page, current)
    preview_gone = page.evaluate("document.querySelector('.tagger-binary video') === null")
    asked.append((current, page.evaluate(ASKED_TAG), "x"))
    page.get_by_role("button", name="No (X)").click()
    current = _next(page, current)
    page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel);"
        " return el && el.textContent.startsWith('4 answer(s) saved')"
        " && !el.textContent.includes('being saved'); }",
        arg=PROGRESS,
    )
    bench.open_page(page, "Queue", "Review queue")  # away and back: the card resumes
    bench.open_page(page, "Binary", "Binary review")
    resumed = page.locator(PROGRESS).inner_text()
    resumed_on = _question(page)
    page.reload()
    page.get_by_role("heading", name="Binary review", exact=True).wait_for()
    after_reload = _question(page)
    return {
        "asked": asked,
        "heading": shown,
        "after_reload": after_reload,
        "previewed": previewed,
        "resumed": resumed,
        "resumed_on": resumed_on,
        "last": current,
        "preview_gone": preview_gone,
    }


def test_binary_keys_answer_questions_that_land_as_reviews(
    settings: Settings, bigbuckbunny
) -> None:
    if reason := browser_available():
        pytest.skip(reason)
    bench.populate(settings, 40, bigbuckbunny)
    with serve_dashboard(settings.data_dir) as server:
        seen = run_in_browser(_drive, server.url, PASSWORD, timeout_s=BROWSER_DEADLINE_S)
    assert seen["heading"].startswith("Is this video ")
    first = seen["asked"][0][0]
    assert seen["previewed"].endswith(f"/files/videos/{first}")  # the media route, by id
    assert seen["preview_gone"]  # the next question stopped it
    assert seen["resumed"].startswith("4 answer(s) saved")  # the same queue, not a new one
    assert seen["resumed_on"] == seen["last"]
    asked = [(int(video_id), node_id, key) for video_id, node_id, key in seen["asked"]]
    assert len({video_id for video_id, _, _ in asked}) == 5  # never the same video twice
    answered = [(video_id, node_id, key) for video_id, node_id, key in asked if key != "n"]
    (skipped,) = (video_id for video_id, _, key in asked if key == "n")
    assert int(seen["after_reload"]) not in {video_id for video_id, _, _ in asked}
    db = get_database(settings)
    with db.session() as s:
        for video_id, node_id, key in answered:
            assert videos.get_video(s, video_id=video_id).status == VideoStatus.REVIEWED
            assert audit.list_audit(s, video_id=video_id, action=AuditAction.REVIEW_SAVED)
            human = {lab.node_id for lab in labels.get_labels(s, video_id=video_id, source="human")}
            assert (node_id in human) == (key == "a"), (video_id, node_id, key, human)
        video = videos.get_video(s, video_id=skipped)
        assert video.status == VideoStatus.PREDICTED
        assert audit.list_audit(s, video_id=skipped, action=AuditAction.RELEASE)
        assert video.claimed_by is None  # and not asked again after the reload (the tab
        # remembers its skips)
        assert videos.get_video(s, video_id=int(seen["after_reload"])).claimed_by is not None
