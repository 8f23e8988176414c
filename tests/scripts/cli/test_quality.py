"""`tagger overlap` and `tagger agreement` on a real (DuckDB) database."""

from __future__ import annotations

from typer.testing import CliRunner

from core import quality
from core.config import Settings
from db.engine import get_database
from db.queries import users, videos
from db.tables import VideoStatus
from scripts.cli import app

runner = CliRunner()


def test_overlap_setting_is_shown_and_set(settings: Settings) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    shown = runner.invoke(app, ["overlap"])
    assert shown.exit_code == 0 and "0% of unreviewed videos, 2 moderators" in shown.output
    changed = runner.invoke(app, ["overlap", "--share", "0.1", "--moderators", "3"])
    assert changed.exit_code == 0 and "10% of unreviewed videos, 3 moderators" in changed.output
    bad = runner.invoke(app, ["overlap", "--share", "2"])
    assert bad.exit_code == 1 and "between 0 and 1" in bad.output
    assert "Traceback" not in bad.output


def test_agreement_reports_alpha_per_tier(settings: Settings) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    empty = runner.invoke(app, ["agreement"])
    assert empty.exit_code == 0 and "no overlap video" in empty.output
    db = get_database()
    with db.session() as s:
        quality.set_overlap(s, share=1.0, moderators=2, user=None)
        ann = users.create_user(s, username="ann", password_hash="x")
        bob = users.create_user(s, username="bob", password_hash="x")
        clips = [videos.create_video(s, title=f"c{i}", status=VideoStatus.READY).id for i in (1, 2)]
    soccer, golf = "Sports: Soccer", "Sports: Golf"
    ids = _ids(db, soccer, golf)
    with db.session() as s:
        # same tier-1 answer twice (Sports); tier 2 split on the second clip
        quality.submit_answer(s, video_id=clips[0], node_ids=[ids[soccer]], user=ann)
        quality.submit_answer(s, video_id=clips[0], node_ids=[ids[soccer]], user=bob)
        quality.submit_answer(s, video_id=clips[1], node_ids=[ids[soccer]], user=ann)
        quality.submit_answer(s, video_id=clips[1], node_ids=[ids[golf]], user=bob)
    result = runner.invoke(app, ["agreement"])
    assert result.exit_code == 0, result.output
    # tier 1: Sports chosen by both on both clips -> no variation -> undefined
    assert "tier 1" in result.output and "undefined" in result.output
    # tier 2 units: c1 Soccer (1,1), c2 Soccer (1,0), c2 Golf (0,1): n=6, n1=4, n0=2,
    # D_o = 4/6, D_e = 2*4*2/(6*5) = 16/30, alpha = 1 - (4/6)/(16/30) = -0.25
    assert "-0.250" in result.output
    assert "ann" in result.output and "50%" in result.output
    assert "moderators week by week (last 1 weeks)" in result.output


def _ids(db, *paths: str) -> dict[str, str]:
    from core.taxonomy import load_from_db

    with db.session() as s:
        taxonomy = load_from_db(s)
    return {p: taxonomy.resolve(p).id for p in paths}


def test_retrain_policy_and_not_due(settings: Settings) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    shown = runner.invoke(app, ["retrain-policy"])
    assert shown.exit_code == 0 and "retrain: on_demand" in shown.output
    changed = runner.invoke(
        app, ["retrain-policy", "--mode", "after_labels", "--after-labels", "5"]
    )
    assert changed.exit_code == 0 and "after 5 reviews" in changed.output
    assert "Next retrain after 5 more reviews (0 of 5 since the last one started)." in (
        changed.output
    )
    bad = runner.invoke(app, ["retrain-policy", "--mode", "hourly"])
    assert bad.exit_code == 1 and "expected one of" in bad.output
    idle = runner.invoke(app, ["retrain-if-due"])
    assert idle.exit_code == 0 and "not due" in idle.output
    current = runner.invoke(app, ["rank-if-due"])
    assert current.exit_code == 0, current.output
    assert "Not due: no video reached the pool after the last ranking." in current.output
