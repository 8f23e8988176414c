"""Queue page: filters, search, default sort, "Review next" claims."""

from __future__ import annotations

import json
from datetime import timedelta

from streamlit.testing.v1 import AppTest

from core import review as review_rules
from core import taxonomy as taxonomy_core
from dashboard.components import md_escape
from db.queries import audit, videos
from db.queries import jobs as job_queries
from db.tables import ModelVersion, ReviewPriority, utcnow


def _queue(at: AppTest) -> AppTest:
    return at.switch_page("views/queue.py").run()


def _ids(at: AppTest) -> list[int]:
    return list(at.dataframe[0].value["id"])


def test_default_sort_is_least_certain_first_without_review_ranks(signed_in, seeded) -> None:
    at = _queue(signed_in("mod"))
    assert _ids(at) == seeded.video_ids  # seeded most uncertain first
    assert at.caption[0].value.startswith("4 videos match")


def test_default_sort_is_most_informative_first(signed_in, seeded) -> None:
    ids = seeded.video_ids
    with seeded.db.session() as s:
        video = videos.get_video(s, video_id=ids[0])
        ranked = [ids[2], ids[3]]
        videos.set_review_ranks(
            s,
            model_version_id=video.predicted_model_id,
            ranked_ids=ranked,
            pool_read_at=utcnow(),
            ranked_by="badge",
        )
    at = _queue(signed_in("mod"))
    assert at.selectbox(key="queue_sort").value == "review_rank"
    assert "Most informative first" in at.selectbox(key="queue_sort").options
    assert _ids(at) == [ids[2], ids[3], ids[0], ids[1]]  # ranked, then least certain first
    at.selectbox(key="queue_sort").set_value("uncertainty").run()
    assert _ids(at) == ids


def test_filters_and_search(signed_in, seeded) -> None:
    at = _queue(signed_in("mod"))
    at.text_input(key="queue_search").input("piano").run()
    assert _ids(at) == [seeded.video_ids[2]]
    at.text_input(key="queue_search").input("").run()
    at.slider(key="queue_confidence").set_range(0.5, 1.0).run()  # confidence = 1 - uncertainty
    assert _ids(at) == seeded.video_ids[2:]
    at.slider(key="queue_confidence").set_range(0.0, 1.0).run()
    tennis = taxonomy_core.load_iab3().find("Sports: Tennis").id
    at.selectbox(key="queue_tag").set_value(tennis).run()
    assert _ids(at) == []  # tennis is never predicted
    sports = taxonomy_core.load_iab3().find("Sports").id
    at.selectbox(key="queue_tag").set_value(sports).run()
    assert len(_ids(at)) == 4
    at.multiselect(key="queue_statuses").select("reviewed").run()
    assert _ids(at) == []


def test_reviewed_filter_and_assignee(signed_in, seeded) -> None:
    boss = signed_in("boss").session_state["current_user"]
    with seeded.db.session() as s:
        review_rules.save_review(
            s, video_id=seeded.video_ids[3], expected_version=0, node_ids=[], user=boss
        )
    at = _queue(signed_in("mod"))
    at.multiselect(key="queue_statuses").select("reviewed").run()
    assert _ids(at) == [seeded.video_ids[3]]
    assert list(at.dataframe[0].value["assignee"]) == ["boss"]


def test_review_next_claims_and_opens_review(signed_in, seeded) -> None:
    mod = _queue(signed_in("mod"))
    mod.button(key="queue_review_next").click().run()
    assert [t.value for t in mod.title] == ["Review"]
    assert mod.session_state["review_video_id"] == seeded.video_ids[0]
    boss = _queue(signed_in("boss"))
    states = dict(zip(_ids(boss), boss.dataframe[0].value["state"], strict=True))
    assert states[seeded.video_ids[0]] == "in review"
    boss.button(key="queue_review_next").click().run()
    # never the same video, nor the one prepared for mod while they review theirs
    assert boss.session_state["review_video_id"] == seeded.video_ids[2]


def test_opening_a_claimed_video_is_refused(signed_in, seeded) -> None:
    mod = _queue(signed_in("mod"))
    mod.button(key="queue_review_next").click().run()
    boss = _queue(signed_in("boss"))
    boss.selectbox(key="queue_open_choice").set_value(seeded.video_ids[0])
    boss.button(key="queue_open").click().run()
    assert [t.value for t in boss.title] == ["Review queue"]
    assert "mod" in boss.warning[0].value


def test_a_running_prediction_job_says_the_queue_is_being_re_ranked(
    signed_in, seeded, running_prediction_job
) -> None:
    """Issue 17: while the queue is re-ranked the page says so; once the job has finished the
    note goes and the page shows the new order."""
    ids = seeded.video_ids
    job_id = running_prediction_job(
        progress=0.5, message="ranking the review queue (BADGE picks): 2 of 4 picks"
    )
    at = _queue(signed_in("mod"))
    assert not at.exception
    assert [i.value for i in at.info] == [
        md_escape(
            f"Re-ranking the queue (prediction job {job_id}: ranking the review queue (BADGE "
            "picks): 2 of 4 picks). Until it finishes, the order shown is the previous one."
        )
    ]
    assert _ids(at) == ids  # no ranks yet: least certain first

    with seeded.db.session() as s:
        model_id = videos.get_video(s, video_id=ids[0]).predicted_model_id
        videos.set_review_ranks(
            s,
            model_version_id=model_id,
            ranked_ids=[ids[3], ids[1]],
            pool_read_at=utcnow(),
            ranked_by="badge",
        )
        job_queries.update_job(s, job_id=job_id, status="succeeded", progress=1.0)
    at.run()
    assert not at.exception
    assert not at.info
    assert _ids(at) == [ids[3], ids[1], ids[0], ids[2]]


def test_the_queue_says_when_its_order_was_chosen_and_what_arrived_since(
    signed_in, seeded, running_prediction_job
) -> None:
    """Issue 17: a video predicted after the ranking (an upload) waits at the end; the page says
    so, and that the server's ranking job is at work."""
    ids = seeded.video_ids
    with seeded.db.session() as s:
        model_id = videos.get_video(s, video_id=ids[0]).predicted_model_id
        videos.set_review_ranks(
            s,
            model_version_id=model_id,
            ranked_ids=[ids[2], ids[3]],
            pool_read_at=utcnow(),
            ranked_by="badge",
        )
    with seeded.db.session() as s:
        summary = videos.PredictionSummary(video_id=ids[0], uncertainty=0.9, top_tag=None)
        videos.set_prediction_summaries(s, model_version_id=model_id, summaries=[summary])
    job_id = running_prediction_job(
        progress=0.2, message="ranking the review queue (gradients): 0 of 4 videos", kind="rank"
    )
    at = _queue(signed_in("mod"))
    assert not at.exception
    assert [i.value for i in at.info] == [
        md_escape(
            f"Re-ranking the queue (ranking job {job_id}: ranking the review queue (gradients): "
            "0 of 4 videos). Until it finishes, the order shown is the previous one."
        )
    ]
    captions = [c.value for c in at.caption]
    expected = md_escape(
        f" UTC (v{model_id}, BADGE, 2 videos). 1 video arrived since and waits at the end (the "
        "server ranks the pool again 10 min after the first arrived)."
    )
    assert any(c.startswith("Order chosen at ") and c.endswith(expected) for c in captions), (
        captions
    )
    assert _ids(at)[:2] == [ids[2], ids[3]]


def test_the_queue_says_when_its_head_covers_kinds_of_content(signed_in, seeded) -> None:
    """A new model (its label space recorded: 10 tags) with fewer than 3 labelled videos a tag:
    the default sort says why its head is typical videos; "Least certain first" does not."""
    with seeded.db.session() as s:
        version = s.get(ModelVersion, seeded.model_id)
        version.metrics_json = json.dumps({**json.loads(version.metrics_json), "n_tags": 10})
        s.add(version)
        labelled = review_rules.count_labelled_videos(s)
    at = _queue(signed_in("mod"))
    captions = [c.value for c in at.caption]
    expected = f"The model is new ({labelled:,} of 30 labelled videos)"
    assert labelled < 30 and any(c.startswith(expected) for c in captions), captions
    at.selectbox(key="queue_sort").set_value("uncertainty").run()
    assert not any("The model is new" in c.value for c in at.caption)


def test_the_queue_says_when_badge_took_its_head_in_the_cold_start(signed_in, seeded) -> None:
    """The active version's last ranking chose BADGE for the neighbour agreement it measured:
    the caption says so instead of promising typical videos."""
    with seeded.db.session() as s:
        version = s.get(ModelVersion, seeded.model_id)
        version.metrics_json = json.dumps({**json.loads(version.metrics_json), "n_tags": 10})
        s.add(version)
        videos.record_queue_ranking(
            s,
            at=utcnow(),
            model_version_id=seeded.model_id,
            videos=2,
            ranked_by="badge",
            neighbour_agreement=0.031,
        )
    captions = [c.value for c in _queue(signed_in("mod")).caption]
    assert any(
        "but videos that look alike share few labels here (neighbour agreement 0.03)" in c
        and "BADGE" in c
        for c in captions
    ), captions
    assert not any("until then the queue opens" in c for c in captions)


def test_without_a_model_the_queue_says_its_head_covers_kinds_of_content(signed_in, seeded):
    with seeded.db.session() as s:
        version = s.get(ModelVersion, seeded.model_id)
        version.is_active = False
        s.add(version)
        labelled = review_rules.count_labelled_videos(s)
    at = _queue(signed_in("mod"))
    assert not at.exception
    expected = f"No model yet ({labelled:,} labelled videos): the queue opens with one typical"
    assert any(c.value.startswith(expected) for c in at.caption), [c.value for c in at.caption]


def test_urgent_and_high_videos_lead_the_queue_and_the_page_says_how_long_they_wait(
    signed_in, seeded
) -> None:
    """The platform marked two videos: the banner counts them with their longest wait against
    the team's target, the table names their priority and opens with them, the toggle shows
    only them, and Review next takes the urgent one."""
    ids = seeded.video_ids
    with seeded.db.session() as s:
        review_rules.set_priority(
            s,
            video_id=ids[3],
            user=None,
            priority=ReviewPriority.URGENT,
            reason="reported",
            now=utcnow() - timedelta(minutes=95),
        )
        review_rules.set_priority(s, video_id=ids[1], user=None, priority=ReviewPriority.HIGH)
    at = _queue(signed_in("mod"))
    assert [e.value for e in at.error] == [
        (
            "1 urgent, the longest waiting 1 h 35 min (over the 30 min target) · 1 high, the "
            "longest waiting 0 min (target 4 h 0 min). Review next takes them first."
        )
    ]
    assert _ids(at) == [ids[3], ids[1], ids[0], ids[2]]
    assert list(at.dataframe[0].value["priority"])[:3] == ["urgent", "high", ""]
    assert list(at.dataframe[0].value["waiting"])[:3] == ["1 h 35 min, over target", "0 min", ""]
    at.toggle(key="queue_prioritized").set_value(True).run()
    assert _ids(at) == [ids[3], ids[1]]
    at.button(key="queue_review_next").click().run()
    assert at.session_state["review_video_id"] == ids[3]


def test_an_admin_sets_the_review_targets_and_the_banner_follows(signed_in, seeded) -> None:
    """Only admins see the section; a saved target is audited and the banner measures the wait
    against it at once (the 1 h urgent wait becomes late under a 45-minute target)."""
    ids = seeded.video_ids
    with seeded.db.session() as s:
        review_rules.set_priority(
            s,
            video_id=ids[0],
            user=None,
            priority=ReviewPriority.URGENT,
            now=utcnow() - timedelta(minutes=60),
        )
    assert not [e for e in _queue(signed_in("mod")).expander if "Review targets" in e.label]
    at = _queue(signed_in("boss"))
    assert "(over the 30 min target)" in at.error[0].value
    at.number_input(key="queue_target_urgent").set_value(90)
    at.number_input(key="queue_target_high").set_value(600)
    at.button(key="FormSubmitter:queue_review_targets-Save review targets").click().run()
    assert not at.exception, at.exception
    assert "(target 1 h 30 min)" in at.error[0].value
    with seeded.db.session() as s:
        [entry] = audit.list_audit(s, action="review_targets")
    assert (entry.username, json.loads(entry.detail_json)) == (
        "boss",
        {"urgent_minutes": 90, "high_minutes": 600},
    )
