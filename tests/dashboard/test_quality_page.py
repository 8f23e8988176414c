"""Label quality page: who may open it, agreement, adjudication side by side, overlap setting;
and a moderator's save of an overlap video storing a blind answer (no labels)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import streamlit as st
from sqlmodel import select

from core import auth, quality
from core import review as review_rules
from core import taxonomy as taxonomy_core
from dashboard import actions
from db.queries import quality as quality_q
from db.queries import retrain_policy, users, videos
from db.tables import OverlapAnswer
from tests.dashboard.conftest import PASSWORD


def _disputed(seeded) -> tuple[int, str, str]:
    """Overlap on; ann and bob answered the first video differently."""
    tax = taxonomy_core.load_iab3()
    soccer, tennis = tax.find("Sports: Soccer").id, tax.find("Sports: Tennis").id
    auth.create_user(seeded.db, username="lee", password=PASSWORD, role="lead")
    vid = seeded.video_ids[0]
    with seeded.db.session() as s:
        quality.set_overlap(s, share=1.0, moderators=2, user=None)
        ann = users.create_user(s, username="ann", password_hash="x")
        bob = users.create_user(s, username="bob", password_hash="x")
        quality.submit_answer(s, video_id=vid, node_ids=[soccer], user=ann)
        quality.submit_answer(s, video_id=vid, node_ids=[tennis], user=bob)
    return vid, soccer, tennis


def test_moderators_have_no_quality_page(signed_in) -> None:
    at = signed_in("mod")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/quality.py")


def test_lead_adjudicates_side_by_side(signed_in, seeded) -> None:
    vid, soccer, tennis = _disputed(seeded)
    at = signed_in("lee").switch_page("views/quality.py").run()
    assert not at.exception, at.exception
    assert [c.value for c in at.caption if c.value in ("ann", "bob")] == ["ann", "bob"]
    assert "Save overlap setting" not in [b.label for b in at.button]  # admins only
    assert [(m.label, m.value) for m in at.metric] == [
        ("Waiting for more answers", "0"),
        ("Answers differ: a lead decides", "1"),
        ("Final labels (agreed or decided)", "0"),
    ]
    at.multiselect(key=f"quality_final_{vid}").select(tennis)
    at.button(key=f"quality_set_{vid}").click().run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric] == ["0", "0", "1"]
    with seeded.db.session() as s:
        final = review_rules.effective_labels(s, video_ids=[vid])[vid]
        assert tennis in final and soccer not in final
        assert videos.get_video(s, video_id=vid).status == "reviewed"


def test_admin_sets_overlap_and_sees_agreement_on_analytics(signed_in, seeded) -> None:
    _disputed(seeded)
    at = signed_in("boss").switch_page("views/quality.py").run()
    assert not at.exception, at.exception
    at.slider(key="quality_share").set_value(25)
    at.number_input(key="quality_moderators").set_value(3)
    at.button[[b.label for b in at.button].index("Save overlap setting")].click().run()
    with seeded.db.session() as s:
        assert quality_q.get_overlap(s) == quality_q.OverlapConfig(share=0.25, moderators=3)
    at.radio(key="quality_retrain_mode").set_value("after_labels")
    at.number_input(key="quality_after").set_value(40)
    at.number_input(key="quality_min_gain").set_value(0.01)
    at.button[[b.label for b in at.button].index("Save retraining policy")].click().run()
    assert not at.exception, at.exception
    with seeded.db.session() as s:
        policy = retrain_policy.get_policy(s)
        assert (policy.mode, policy.after_labels) == ("after_labels", 40)
        assert policy.min_gain == pytest.approx(0.01)
    at.run()
    (caption,) = [c.value for c in at.caption if "Next retrain" in c.value]
    assert caption.startswith("Next retrain after 40 more reviews (0 of 40 since the last one")
    assert "The server checks the policy every 60 s and retrains in the background" in caption
    at = at.switch_page("views/analytics.py").run()
    assert not at.exception, at.exception
    assert "Moderator agreement (overlap videos)" in [h.value for h in at.subheader]


def test_a_moderators_weeks_are_charted_for_leads(signed_in, seeded) -> None:
    """Two weeks of overlap answers: each moderator's kappa per week, on a chart."""
    _, soccer, tennis = _disputed(seeded)  # this week: they split
    other = seeded.video_ids[1]
    with seeded.db.session() as s:
        ann, bob = (users.get_user_by_name(s, username=n) for n in ("ann", "bob"))
        quality.submit_answer(s, video_id=other, node_ids=[soccer], user=ann)
        quality.submit_answer(s, video_id=other, node_ids=[soccer, tennis], user=bob)
        for answer in s.exec(select(OverlapAnswer).where(OverlapAnswer.video_id == other)):
            answer.answered_at -= timedelta(days=7)  # a week earlier
            s.add(answer)
    at = signed_in("lee").switch_page("views/quality.py").run()
    assert not at.exception, at.exception
    [chart] = at.get("vega_lite_chart")  # kappa (core/test_agreement.py): 0.0, then -0.5
    encoding = json.loads(chart.proto.spec)["encoding"]
    assert (encoding["y"]["field"], encoding["color"]["field"]) == ("kappa", "moderator")
    assert "Each moderator's kappa with peers, week by week" in " ".join(
        c.value for c in at.caption
    )
    with seeded.db.session() as s:  # one week left: nothing to chart
        for answer in s.exec(select(OverlapAnswer).where(OverlapAnswer.video_id == other)):
            s.delete(answer)
    assert not at.run().get("vega_lite_chart")


def test_moderator_save_of_an_overlap_video_is_a_blind_answer(signed_in, seeded) -> None:
    tax = taxonomy_core.load_iab3()
    vid = seeded.video_ids[0]
    with seeded.db.session() as s:
        quality.set_overlap(s, share=1.0, moderators=2, user=None)
    # the review page's write path, called with the moderator's signed-in token
    st.session_state["auth_token"] = signed_in("mod").session_state["auth_token"]
    try:
        actions.defer_save_review(
            seeded.db,
            video_id=vid,
            expected_version=0,
            node_ids=[tax.find("Sports").id],
            then_claim=None,
            about=None,
        ).result(timeout=30)
    finally:
        del st.session_state["auth_token"]
    with seeded.db.session() as s:
        assert review_rules.effective_labels(s, video_ids=[vid]) == {}
        user = users.get_user_by_name(s, username="mod")
        assert quality.get_answer(s, video_id=vid, user=user) == [tax.find("Sports").id]
