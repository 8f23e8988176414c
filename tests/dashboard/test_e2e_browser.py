"""End to end in a real browser: `tagger serve` + headless Chromium (Playwright), both run by
:mod:`tests.support.browser` under a hard deadline.

Data: the IAB taxonomy, 16 videos that play a real clip (bigbuckbunny) with real keyframe
thumbnails and a transcript, synthetic embeddings under the configured encoder's cache key, imported
labels, and a model trained and applied by the product's own code. The browser signs in as an
admin, reviews and corrects a video, saves, starts a retrain and waits for the new version.
Screenshots go to artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from core import auth
from core import taxonomy as taxonomy_core
from core.config import Settings
from core.encoders import load_encoder
from core.lifecycle import prediction, training
from core.media import decode as media
from db.engine import get_database, init_db
from db.queries import embeddings, labels, videos
from db.tables import VideoStatus
from tests.support.browser import (
    browser_available,
    run_in_browser,
    serve_dashboard,
    until_reported,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"  # gitignored; the README's are from the demo
SESSION_DEADLINE_S = 480  # under the test's timeout: the retrain alone may take minutes
PASSWORD = "correct horse battery"
LEAVES = [
    "Sports: Soccer",
    "Sports: Tennis",
    "Travel: Travel Locations",
    "Food & Drink: Desserts and Baking",
]
TITLES = ["Cup final highlights", "Baseline rally", "Weekend in Lisbon", "Chocolate cake at home"]
N_VIDEOS = 24
FAST_TRAINING = {
    "n_ensemble": 1,
    "max_epochs": 80,
    "patience": 10,
    "d_model": 64,
    "n_heads": 2,
    "n_layers": 1,
    "mlp_width": 128,
}


def _seed(settings: Settings, clip: Path) -> None:
    db = get_database(settings)
    init_db(db)
    tax = taxonomy_core.load_iab3()
    with db.session() as s:
        taxonomy_core.save_to_db(s, tax)
    auth.create_user(db, username="boss", password=PASSWORD, role="admin")
    digest = media.content_hash(clip)
    stored = settings.media_dir / f"{digest}.mp4"
    shutil.copy(clip, stored)
    frames = []
    for i, frame in enumerate(media.sample_keyframes(stored, 4)):
        path = settings.thumbnails_dir / f"{digest}_{i}.jpg"
        path.write_bytes(media.make_thumbnail(frame.image, settings.thumbnail_px))
        frames.append((frame.timestamp_s, str(path.relative_to(settings.data_dir))))
    encoder = load_encoder(settings)
    rng = np.random.default_rng(0)
    centres = {
        m: rng.standard_normal((len(LEAVES), encoder.dims[m])) * 3 for m in ("title", "frames")
    }
    with db.session() as s:
        for i in range(N_VIDEOS):
            leaf = i % len(LEAVES)
            video = videos.create_video(
                s,
                title=f"{TITLES[leaf]} #{i}",
                description=f"Clip {i}: <b>not bold</b> and [no link](http://x)",
                stored_path=str(stored.relative_to(settings.data_dir)),
                content_hash=digest,
                original_name="bigbuckbunny.mp4",
                status=VideoStatus.READY,
            )
            videos.replace_keyframes(s, video_id=video.id, frames=frames)
            videos.put_transcript(
                s,
                video_id=video.id,
                source="provided",
                text="a rabbit wakes up",
                segments=[
                    {"start": 0.0, "end": 2.0, "text": "A big rabbit wakes up."},
                    {"start": 2.5, "end": 5.0, "text": "He stretches in the sun."},
                ],
            )
            embeddings.put_embeddings(
                s,
                records=[
                    embeddings.EmbeddingRecord(
                        video.id,
                        m,
                        *encoder.cache_key,
                        f"{m}{i}",
                        (centres[m][leaf] + rng.standard_normal(encoder.dims[m])).astype(
                            np.float32
                        ),
                    )
                    for m in ("title", "frames")
                ],
            )
            labels.import_labels(s, labels=[(video.id, tax.find(LEAVES[leaf]).id)])
    training.train_model(db, settings=settings, user=None, activate=True, params=FAST_TRAINING)
    prediction.predict_videos(db, settings=settings)


def _idle(page) -> None:
    """Wait until Streamlit has finished the current run."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=60_000)


def _shot(page, path: Path) -> None:
    """Screenshot of the top of the page (Streamlit scrolls inside its own containers)."""
    page.evaluate(
        "for (const el of document.querySelectorAll('*')) { if (el.scrollTop) el.scrollTop = 0; }"
    )
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))


def _review_correct_save_retrain(browser, url: str, screenshots: str) -> int:
    """Sign in, review next, add a tag, save, retrain; the id of the reviewed video."""
    shots = Path(screenshots)
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_role("textbox", name="Username").fill("boss")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("textbox", name="Password").press("Enter")  # forms submit on Enter
    page.get_by_role("heading", name="Review queue").wait_for()
    _idle(page)
    _shot(page, shots / "queue.png")

    page.get_by_role("button", name="Review next").click()
    page.get_by_role("heading", name="Review", exact=True).wait_for()
    page.locator("video").wait_for()
    _idle(page)
    video_id = int(
        page.locator('[data-testid="stCaptionContainer"]')
        .filter(has_text="#")
        .first.inner_text()
        .split("#")[1]
        .split(" ")[0]
    )
    page.get_by_role("button", name="He stretches in the sun").click()  # transcript line seeks
    page.wait_for_function(  # in the browser: the player jumps to the line's start
        "Math.abs(document.querySelector('video').currentTime - 2.5) < 0.2", timeout=30_000
    )
    _idle(page)
    picker = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Add tags")
    picker.locator("input").press_sequentially("table tenn", delay=30)  # a few of 704 tags
    page.get_by_role("option", name="Sports: Table Tennis", exact=True).click()
    page.keyboard.press("Escape")
    _shot(page, shots / "review.png")
    page.get_by_role("button", name="Save & next").click()
    until_reported(page, f"Saved video {video_id}.")

    page.get_by_role("link", name="Models").click()
    page.get_by_role("heading", name="Models").wait_for()
    _idle(page)
    page.get_by_role("button", name="Retrain now").click()
    # the fragment polls the job; the table (a canvas grid) gets the new row when it is done
    page.get_by_text("v2", exact=True).wait_for(state="attached", timeout=300_000)
    _idle(page)
    _shot(page, shots / "models.png")
    return video_id


def test_review_correct_save_retrain(settings: Settings, bigbuckbunny: Path) -> None:
    if reason := browser_available():
        pytest.skip(reason)
    _seed(settings, bigbuckbunny)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with serve_dashboard(settings.data_dir) as server:
        video_id = run_in_browser(
            _review_correct_save_retrain,
            server.url,
            str(SCREENSHOTS),
            timeout_s=SESSION_DEADLINE_S,
        )

    db = get_database(settings)
    tennis = taxonomy_core.load_iab3().find("Sports: Table Tennis").id
    with db.session() as s:
        saved = {lab.node_id for lab in labels.get_labels(s, video_id=video_id, source="human")}
        assert tennis in saved
        assert videos.get_video(s, video_id=video_id).status == VideoStatus.REVIEWED
