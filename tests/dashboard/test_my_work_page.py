"""My work (every account, its own rows): reviews per day, accuracy, and the leads' verdicts
on its reviews with their comments and labels."""

from __future__ import annotations

import json

from core import auth, lead_review
from core import review as review_rules
from db.queries import users as users_q
from db.queries import videos


def test_a_moderator_reads_what_a_lead_said_about_their_reviews(signed_in, seeded) -> None:
    first, second = seeded.video_ids[:2]
    with seeded.db.session() as s:
        mod = users_q.get_user_by_name(s, username="mod")
        tax_ids = {n: videos.get_video(s, video_id=n).top_tag for n in (first, second)}
        for video_id in (first, second):
            review_rules.save_review(
                s, video_id=video_id, expected_version=0, node_ids=[tax_ids[video_id]], user=mod
            )
    auth.create_user(seeded.db, username="lee", password="long enough pw", role="lead")
    with seeded.db.session() as s:
        lee = users_q.get_user_by_name(s, username="lee")
        lead_review.reject(s, video_id=first, comment="check the <b>intro</b>", user=lee)
        video = videos.get_video(s, video_id=second)
        lead_review.fix(s, video_id=second, expected_version=video.version, node_ids=[], user=lee)

    at = signed_in("mod").switch_page("views/my_work.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Reviews today (UTC)"] == "2" and metrics["Accepted as they were"] == "0 of 2"
    text = " ".join(m.value for m in at.markdown)
    assert "rejected: sent back to you" in text and "fixed" in text
    assert "check the \\<b\\>intro\\</b\\>" in text  # the comment, escaped
    [chart] = at.get("vega_lite_chart")  # reviews per day, on whole-number ticks
    spec = json.loads(chart.proto.spec)
    assert spec["encoding"]["y"]["axis"] == {
        "format": "d",
        "tickMinStep": 1,
        "title": "saved reviews",
    }
    captions = " ".join(c.value for c in at.caption)
    assert "Your tags: Sports" in captions and "The lead added: nothing" in captions


def test_an_account_without_judged_reviews_sees_empty_figures(signed_in) -> None:
    at = signed_in("boss").switch_page("views/my_work.py").run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Label F1 vs final"] == "–"
    captions = [c.value for c in at.caption]
    assert "No lead has judged one of your reviews yet." in captions
    assert "No reviews saved in the last 14 days." in captions and not at.get("vega_lite_chart")
