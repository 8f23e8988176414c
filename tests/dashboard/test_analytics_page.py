"""Analytics page: distribution, throughput, disagreement, send back for a second review."""

from __future__ import annotations

import json
from datetime import timedelta

from core import review as review_rules
from core import taxonomy as taxonomy_core
from db.queries import users, videos
from db.tables import ReviewPriority, utcnow


def test_analytics_and_send_back(signed_in, seeded) -> None:
    travel = taxonomy_core.load_iab3().find("Travel").id  # the model gives it ~0
    boss = signed_in("boss")
    user = boss.session_state["current_user"]
    vid = seeded.video_ids[0]
    with seeded.db.session() as s:
        review_rules.save_review(s, video_id=vid, expected_version=0, node_ids=[travel], user=user)
    at = boss.switch_page("views/analytics.py").run()
    assert not at.exception
    counts = [json.loads(c.proto.spec)["encoding"] for c in at.get("vega_lite_chart")]
    [videos_axis] = [e["x"]["axis"] for e in counts if e["x"]["field"] == "videos"]
    [reviews_axis] = [e["y"]["axis"] for e in counts if e["y"]["field"] == "reviews"]
    assert videos_axis["format"] == reviews_axis["format"] == "d"  # no half videos on the ticks
    suspects = at.dataframe[-1].value
    assert vid in set(suspects["video"]) and "Travel" in set(suspects["tag"])
    at.multiselect(key="analytics_send_ids").select(vid)
    at.button[[b.label for b in at.button].index("Send back for second review")].click().run()
    with seeded.db.session() as s:
        video = videos.get_video(s, video_id=vid)
    assert video.status == "predicted" and video.flagged and "second review" in video.flag_reason


def test_moderator_cannot_send_back(signed_in, seeded) -> None:
    travel = taxonomy_core.load_iab3().find("Travel").id
    mod = signed_in("mod")
    with seeded.db.session() as s:
        review_rules.save_review(
            s,
            video_id=seeded.video_ids[0],
            expected_version=0,
            node_ids=[travel],
            user=mod.session_state["current_user"],
        )
    at = mod.switch_page("views/analytics.py").run()
    assert at.dataframe  # sees the list
    assert "Send back for second review" not in [b.label for b in at.button]


def test_the_page_says_how_long_high_and_urgent_videos_waited(signed_in, seeded) -> None:
    vid, waiting = seeded.video_ids[:2]
    with seeded.db.session() as s:  # before a sign-in shows (and caches) the queue's counts
        moderator = users.get_user_by_name(s, username="mod")
        review_rules.set_priority(
            s,
            video_id=vid,
            user=None,
            priority=ReviewPriority.URGENT,
            now=utcnow() - timedelta(minutes=75),
        )
        review_rules.set_priority(s, video_id=waiting, user=None, priority=ReviewPriority.URGENT)
        review_rules.save_review(s, video_id=vid, expected_version=0, node_ids=[], user=moderator)
    at = signed_in("boss").switch_page("views/analytics.py").run()
    assert not at.exception
    [table] = [d.value for d in at.dataframe if "median wait" in d.value.columns]
    assert table.to_dict("records") == [
        {
            "priority": "urgent",
            "reviewed": 1,
            "median wait": "1 h 15 min",
            "90 % within": "1 h 15 min",
            "target": "30 min",  # the default urgent review target
            "within target": "0% (0)",
            "waiting now": 1,
        },
        {
            "priority": "high",
            "reviewed": 0,
            "median wait": "–",
            "90 % within": "–",
            "target": "4 h 0 min",
            "within target": "–",
            "waiting now": 0,
        },
    ]
