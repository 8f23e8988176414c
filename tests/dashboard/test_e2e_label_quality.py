"""End to end in a real browser, the label-quality loop of issue 17 on one `tagger serve`:

- a lead adjudicates a disputed overlap video on *Label quality* (its counts say one waits for a
  lead; the two blind answers side by side) and rejects a moderator's review with a comment on
  *Lead review*;
- that moderator's "Review next" gives the video back to her, the comment shown above it;
- an admin sets the retraining policy on *Label quality*; the server's watcher retrains by
  itself, and *Models* says that the policy started it and that the new version went live.

The dashboard runs in its own process group and the Playwright session in a child process group
with a hard deadline (:func:`tests.support.browser.run_in_browser`).
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from core import auth, quality
from core import review as review_rules
from core import taxonomy as taxonomy_core
from core.config import Settings
from core.lifecycle import jobs
from db.engine import get_database
from db.queries import model_versions, users, videos
from db.tables import LeadReview
from scripts.bench.review import open_page, sign_in
from tests.support.browser import browser_available, run_in_browser, serve_dashboard
from tests.support.catalogue import trained_catalogue

pytestmark = pytest.mark.slow

BROWSER_DEADLINE_S = 300  # the policy's retrain trains and compares two models in the meantime
PASSWORD = "correct horse battery staple"
LEAVES = ["Sports: Soccer", "Sports: Tennis"]
COMMENT = "Wrong sport: this is tennis"


def _seed(settings: Settings) -> dict[str, int]:
    """A trained catalogue, a lead, an admin, two moderators; overlap on, the first video
    answered differently by the two (a dispute); the second reviewed by ann, the third by bob."""
    ids = trained_catalogue(settings, leaves=LEAVES, n_videos=24)
    db = get_database(settings)
    for username, role in [
        ("lee", "lead"),
        ("boss", "admin"),
        ("ann", "moderator"),
        ("bob", "moderator"),
    ]:
        auth.create_user(db, username=username, password=PASSWORD, role=role)
    tax = taxonomy_core.load_iab3()
    soccer, tennis = tax.find(LEAVES[0]).id, tax.find(LEAVES[1]).id
    disputed, rejected, kept = ids[:3]
    with db.session() as s:
        ann = users.get_user_by_name(s, username="ann")
        bob = users.get_user_by_name(s, username="bob")
        quality.set_overlap(s, share=1.0, moderators=2, user=None)
        quality.submit_answer(s, video_id=disputed, node_ids=[soccer], user=ann)
        quality.submit_answer(s, video_id=disputed, node_ids=[tennis], user=bob)
        quality.set_overlap(s, share=0.0, moderators=2, user=None)  # plain reviews from here
        for video_id, moderator in [(rejected, ann), (kept, bob)]:
            version = videos.get_video(s, video_id=video_id).version
            review_rules.save_review(
                s, video_id=video_id, expected_version=version, node_ids=[soccer], user=moderator
            )
    return {"disputed": disputed, "rejected": rejected}


def _idle(page) -> None:
    """Wait until Streamlit has finished the run the last action started."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=60_000)


def _context(browser, url: str, username: str):
    """A page of its own browser context (cookies), signed in as ``username``."""
    page = browser.new_context(viewport={"width": 1440, "height": 1400}).new_page()
    page.set_default_timeout(60_000)
    sign_in(page, url, username, PASSWORD)
    return page


def _drive(browser, url: str, disputed: int, rejected: int) -> dict:
    """The browser session (child process)."""
    seen: dict = {}
    lead = _context(browser, url, "lee")
    open_page(lead, "Label quality", "Label quality")
    for name in ("ann", "bob"):  # the two blind answers, side by side
        lead.locator('[data-testid="stCaptionContainer"]').filter(has_text=name).first.wait_for()
    seen["overlap_progress"] = lead.locator('[data-testid="stMetric"]').all_inner_texts()
    final = lead.locator(f".st-key-quality_final_{disputed}")
    final.locator("input").press_sequentially("Sports: Socc", delay=30)
    lead.get_by_role("option", name=LEAVES[0], exact=True).click()
    lead.keyboard.press("Escape")
    _idle(lead)
    lead.locator(f".st-key-quality_set_{disputed} button").click()
    lead.get_by_text("Nothing to adjudicate.").wait_for()  # the page runs again without it

    open_page(lead, "Lead review", "Lead review")
    comment = lead.locator(f".st-key-lead_comment_{rejected} input")
    comment.fill(COMMENT)
    comment.press("Enter")
    _idle(lead)
    reject = f".st-key-lead_reject_{rejected}"
    lead.wait_for_function(  # the comment's run has settled: no stale copy of the button is left
        f"() => document.querySelectorAll('{reject}').length === 1"
    )
    lead.locator(f"{reject} button").click()
    lead.wait_for_function(  # judged: the sample no longer holds it (stale copies included)
        f"() => document.querySelectorAll('.st-key-lead_reject_{rejected}').length === 0"
    )

    moderator = _context(browser, url, "ann")
    moderator.get_by_role("button", name="Review next").click()
    moderator.get_by_role("heading", name="Review", exact=True).wait_for()
    flag = moderator.locator('[data-testid="stAlertContentWarning"]').filter(has_text="Flagged")
    flag.first.wait_for()
    seen["moderator_sees"] = flag.first.inner_text()

    admin = _context(browser, url, "boss")
    open_page(admin, "Accounts", "Accounts")  # the 13th page and later are in the menu too
    open_page(admin, "Label quality", "Label quality")
    admin.get_by_text("after N new reviews").click()
    admin.locator(".st-key-quality_after input").fill("1")
    admin.locator(".st-key-quality_min_gain input").fill("-1.000")
    _idle(admin)
    admin.get_by_role("button", name="Save retraining policy").click()
    admin.get_by_text("Retraining: after_labels").wait_for()
    open_page(admin, "Models", "Models")
    admin.get_by_text("Started by the retraining policy").wait_for(timeout=120_000)
    verdict = admin.locator('[data-testid="stAlertContentInfo"]').filter(has_text="promoted")
    verdict.wait_for(timeout=180_000)
    seen["verdict"] = verdict.inner_text()
    return seen


def test_adjudicate_reject_and_the_policy_retrains(settings: Settings) -> None:
    if reason := browser_available():
        pytest.skip(reason)
    seeded = _seed(settings)
    db = get_database(settings)
    with db.session() as s:
        first_model = model_versions.get_active_model(s).id
    with serve_dashboard(settings.data_dir, env={"TAGGER_RETRAIN_POLL_S": "1"}) as server:
        seen = run_in_browser(
            _drive,
            server.url,
            seeded["disputed"],
            seeded["rejected"],
            timeout_s=BROWSER_DEADLINE_S,
        )
        (policy_job,) = [j for j in jobs.list_jobs(db, kind="train") if "policy" in j.params]
    assert [" ".join(m.split()) for m in seen["overlap_progress"]] == [
        "Waiting for more answers 0",
        "Answers differ: a lead decides 1",
        "Final labels (agreed or decided) 0",
    ]
    assert f"rejected by lee: {COMMENT}" in seen["moderator_sees"].replace("\\", "")
    assert "; promoted: held-out AU(PRC) " in seen["verdict"]
    soccer = taxonomy_core.load_iab3().find(LEAVES[0]).id
    with db.session() as s:
        final = review_rules.effective_labels(s, video_ids=[seeded["disputed"]])
        assert soccer in final[seeded["disputed"]]
        video = videos.get_video(s, video_id=seeded["rejected"])
        assert video.flagged and video.claimed_by == users.get_user_by_name(s, username="ann").id
        (verdict,) = s.exec(select(LeadReview).where(LeadReview.video_id == seeded["rejected"]))
        assert (verdict.verdict, verdict.comment) == ("rejected", COMMENT)
        active = model_versions.get_active_model(s).id
    assert policy_job.status == "succeeded"
    assert active == policy_job.result["model_version_id"] != first_model
