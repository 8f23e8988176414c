"""Tag sweep page: the grid of unreviewed predicted videos, and confirming exactly the ticked
ones."""

from __future__ import annotations

from core import review as review_rules
from core import taxonomy as taxonomy_core
from db.queries import audit, labels, review, videos
from db.tables import AuditAction, VideoStatus


def _sweep(at, path: str):
    at.switch_page("views/sweep.py").run()
    node = taxonomy_core.load_iab3().find(path).id
    at.selectbox(key="sweep_tag").select(node).run()
    assert not at.exception, at.exception
    return at, node


def _keep_boxes(at):
    return [c for c in at.checkbox if c.key.startswith("sweep_keep_")]


def test_confirm_saves_exactly_the_ticked_videos(signed_in, seeded) -> None:
    at, soccer = _sweep(signed_in("mod"), "Sports")
    boxes = _keep_boxes(at)
    shown = [int(c.key.rsplit("_", 1)[1]) for c in boxes]
    # most doubtful first: every video predicts Soccer at 0.9 and Sports at 0.95; ids break ties
    assert shown == sorted(seeded.video_ids)
    assert all(c.value for c in boxes)
    with seeded.db.session() as s:  # the page holds its videos
        assert all(
            review.get_claim(s, video_id=v, user=at.session_state["current_user"]).held
            for v in shown
        )
    boxes[1].uncheck()
    boxes[3].uncheck()
    at.button(key="sweep_confirm").click().run()
    assert not at.exception, at.exception
    ticked, unticked = [shown[0], shown[2]], [shown[1], shown[3]]
    sports = taxonomy_core.load_iab3().find("Sports").id
    soccer = taxonomy_core.load_iab3().find("Sports: Soccer").id
    with seeded.db.session() as s:
        for vid in ticked:
            video = videos.get_video(s, video_id=vid)
            assert video.status == VideoStatus.REVIEWED and video.claimed_by is None
            human = [lab.node_id for lab in labels.get_labels(s, video_id=vid, source="human")]
            assert sorted(human) == sorted({soccer, sports})  # the suggestion + the swept tag
            assert audit.list_audit(s, video_id=vid, action=AuditAction.REVIEW_SAVED)
        for vid in unticked:
            video = videos.get_video(s, video_id=vid)
            assert video.status == VideoStatus.PREDICTED and video.claimed_by is None
            assert not labels.get_labels(s, video_id=vid, source="human")
    assert "confirmed 2 video" in at.success[0].value
    assert not _keep_boxes(
        at
    )  # nothing left: reviewed ones are done, unticked ones not shown again


def test_videos_held_by_someone_else_are_not_swept(signed_in, seeded) -> None:
    boss = signed_in("boss")
    boss.session_state["review_video_id"] = seeded.video_ids[0]
    boss.switch_page("views/review.py").run()  # boss holds video 0 (and prepares video 1)
    at, _ = _sweep(signed_in("mod"), "Sports: Soccer")
    shown = {int(c.key.rsplit("_", 1)[1]) for c in _keep_boxes(at)}
    assert shown == set(seeded.video_ids[2:])


def test_a_video_changed_meanwhile_is_refused_and_the_rest_saved(signed_in, seeded) -> None:
    at, _ = _sweep(signed_in("mod"), "Sports")
    first, second = seeded.video_ids[:2]
    boss = signed_in("boss").session_state["current_user"]
    travel = taxonomy_core.load_iab3().find("Travel").id
    with seeded.db.session() as s:  # an admin saves video 0 after the page was read
        review_rules.save_review(
            s, video_id=first, expected_version=0, node_ids=[travel], user=boss
        )
    at.button(key="sweep_confirm").click().run()
    message = at.success[0].value.replace("\\", "")
    assert (
        "confirmed 3 video(s)" in message and "Not saved (changed or taken meanwhile): 1" in message
    )
    with seeded.db.session() as s:
        assert [lab.node_id for lab in labels.get_labels(s, video_id=first, source="human")] == [
            travel
        ]
        assert videos.get_video(s, video_id=second).status == VideoStatus.REVIEWED
