"""Lead review page: only leads and admins; reject sends the video back to its moderator."""

from __future__ import annotations

import pytest

from core import auth
from core import review as review_rules
from core import taxonomy as taxonomy_core
from db.queries import users, videos
from tests.dashboard.conftest import PASSWORD


def _reviewed_by_mod(seeded) -> int:
    soccer = taxonomy_core.load_iab3().find("Sports: Soccer").id
    vid = seeded.video_ids[2]
    with seeded.db.session() as s:
        mod = users.get_user_by_name(s, username="mod")
        review_rules.save_review(s, video_id=vid, expected_version=0, node_ids=[soccer], user=mod)
    return vid


def test_moderators_have_no_lead_review_page(signed_in) -> None:
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        signed_in("mod").switch_page("views/lead_review.py")


def test_lead_rejects_and_the_moderator_gets_it_back(signed_in, seeded) -> None:
    vid = _reviewed_by_mod(seeded)
    auth.create_user(seeded.db, username="lee", password=PASSWORD, role="lead")
    at = signed_in("lee").switch_page("views/lead_review.py").run()
    assert not at.exception, at.exception
    at.text_input(key=f"lead_comment_{vid}").input("this is a tennis match")
    at.button(key=f"lead_reject_{vid}").click().run()
    assert not at.exception, at.exception
    with seeded.db.session() as s:
        video = videos.get_video(s, video_id=vid)
        assert video.flagged and "this is a tennis match" in video.flag_reason
        mod = users.get_user_by_name(s, username="mod")
        assert review_rules.claim_next(s, user=mod, claim_minutes=20).id == vid
    assert at.dataframe[0].value["rejected"].tolist() == [1]  # accuracy table after rerun


def test_admin_accepts(signed_in, seeded) -> None:
    vid = _reviewed_by_mod(seeded)
    at = signed_in("boss").switch_page("views/lead_review.py").run()
    assert not at.exception, at.exception
    at.button(key=f"lead_accept_{vid}").click().run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value["accepted"].tolist() == [1]
    with seeded.db.session() as s:
        assert videos.get_video(s, video_id=vid).status == "reviewed"


def test_a_lead_picks_whose_reviews_to_sample(signed_in, seeded) -> None:
    vid = _reviewed_by_mod(seeded)
    auth.create_user(seeded.db, username="new", password=PASSWORD)
    with seeded.db.session() as s:
        new = users.get_user_by_name(s, username="new")
        review_rules.save_review(
            s, video_id=seeded.video_ids[3], expected_version=0, node_ids=[], user=new
        )
    at = signed_in("boss").switch_page("views/lead_review.py").run()
    whose = at.selectbox(key="lead_moderator")
    assert whose.options == [
        "anyone's (2 unjudged)",
        "mod (1 unjudged)",
        "new (1 unjudged)",
    ]
    at = whose.set_value(new.id).run()
    assert not at.exception, at.exception
    shown = {b.key for b in at.button if b.key and b.key.startswith("lead_accept_")}
    assert shown == {f"lead_accept_{seeded.video_ids[3]}"} and vid != seeded.video_ids[3]
