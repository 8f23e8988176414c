"""End to end in Chromium against `streamlit run dashboard/server.py`: the session cookie
survives a reload and sign-out ends it; the review player streams the video through 206
responses; media needs the session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core import auth
from core import taxonomy as taxonomy_core
from core.config import Settings
from core.media import decode as media_decode
from db.engine import get_database, init_db
from db.queries import videos
from db.tables import VideoStatus
from scripts.bench.live_dashboard import CHROMIUM, dashboard_server, run_browser_script

pytestmark = pytest.mark.slow

FLOW = Path(__file__).with_name("browser_media_flow.py")
PASSWORD = "correct horse battery"
SESSION_DEADLINE_S = 150


def _seed(settings: Settings, clip: Path) -> None:
    db = get_database(settings)
    init_db(db)
    with db.session() as s:
        taxonomy_core.save_to_db(s, taxonomy_core.load_iab3())
    auth.create_user(db, username="mod", password=PASSWORD, role="moderator")
    digest = media_decode.content_hash(clip)
    stored = settings.media_dir / f"{digest}.mp4"
    shutil.copy(clip, stored)
    with db.session() as s:
        videos.create_video(
            s,
            title="Big buck bunny",
            stored_path=str(stored.relative_to(settings.data_dir)),
            content_hash=digest,
            status=VideoStatus.READY,
        )


def test_cookie_session_and_streamed_player(settings: Settings, bigbuckbunny: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    _seed(settings, bigbuckbunny)
    env = {"TAGGER_DATA_DIR": str(settings.data_dir)}
    with dashboard_server(env, settings.data_dir / "server.log") as (url, _):
        seen = run_browser_script(FLOW, [url, "mod", PASSWORD], timeout_s=SESSION_DEADLINE_S)

    assert seen["cookie"] == {"httpOnly": True, "sameSite": "Lax", "secure": False, "path": "/"}
    assert not seen["token_in_html"]
    assert seen["after_reload"] == "Review queue"  # still signed in
    assert seen["video_src"].startswith(seen["video_url_prefix"] + "/")
    assert seen["duration"] > 1 and seen["played_to"] > 0.3
    partial = [r for r in seen["media_responses"] if r["status"] == 206]
    assert partial and all(r["content_range"].startswith("bytes ") for r in partial)
    assert seen["anonymous_status"] == 401
    assert not seen["cookie_after_sign_out"]
    assert seen["media_after_sign_out"] == 401
