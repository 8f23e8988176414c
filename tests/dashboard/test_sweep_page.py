"""Tag sweep page: the grid of unreviewed predicted videos, and confirming exactly the ticked
ones."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from core import review as review_rules
from core import taxonomy as taxonomy_core
from dashboard import cache
from dashboard.components import PREVIEW_S, preview_start
from dashboard.review_data import VideoFile, sweep_cards
from dashboard.routes import media
from db.engine import Database
from db.queries import audit, labels, review, videos
from db.queries.bulk_review import SweepItem
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


# --- previews ------------------------------------------------------------------------------------

_PREVIEW = re.compile(
    r'<div class="tagger-preview" data-preview-src="([^"]*)" data-preview-start="([\d.]+)"'
)
_THUMBNAIL = re.compile(r'<img src="/files/thumbnails/(\d+)/0" alt="([^"]*)"')
ATTRIBUTE_BREAKER = 'x" onmouseover="alert(1)" y="<b>'


def _store_files(seeded, *, videos_with: dict[int, float | None], thumbnails_for: list[int]):
    """Media files (with their recorded length) and first-keyframe thumbnails on disk."""
    settings = seeded.settings
    stored = {}
    with seeded.db.session() as s:
        for vid, duration in videos_with.items():
            path = settings.media_dir / f"v{vid}.mp4"
            path.write_bytes(b"bytes the browser would play")
            stored[vid] = str(path.relative_to(settings.data_dir))
            videos.set_media_info(
                s,
                video_id=vid,
                info=videos.StoredMedia(f"h{vid}", stored[vid], duration, 64, 36, False, True),
            )
        for vid in thumbnails_for:
            path = settings.thumbnails_dir / f"v{vid}_0.jpg"
            path.write_bytes(b"\xff\xd8 jpeg \xff\xd9")
            videos.replace_keyframes(
                s, video_id=vid, frames=[(1.0, str(path.relative_to(settings.data_dir)))]
            )
    return stored


class _Attributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.update(name for name, _ in attrs)


def _attribute_names(body: str) -> set[str]:
    """The attributes a browser's parser finds in ``body``."""
    parser = _Attributes()
    parser.feed(body)
    return parser.names


def _cards_html(at) -> list[str]:
    return [
        h.proto.body
        for h in at.get("html")
        if "/files/thumbnails/" in h.proto.body or "no keyframe" in h.proto.body
    ]


def test_each_card_previews_its_video_from_the_media_route(signed_in, seeded) -> None:
    first, second, third, fourth = seeded.video_ids
    with seeded.db.session() as s:  # a title that would end the attribute if not escaped
        videos.get_video(s, video_id=second).title = ATTRIBUTE_BREAKER
    stored = _store_files(
        seeded, videos_with={first: 30.0, second: None}, thumbnails_for=[first, second, third]
    )
    for memory in (media._video_paths, media._thumbnail_paths):
        memory.clear()
    at, _ = _sweep(signed_in("mod"), "Sports")

    cards = _cards_html(at)
    assert len(cards) == 4
    previews = {src: start for body in cards for src, start in _PREVIEW.findall(body)}
    # the window centred on the middle of a 30 s video; a few seconds in when the length is unknown
    assert previews == {
        media.video_url(first): f"{preview_start(30.0):.2f}",
        media.video_url(second): f"{preview_start(None):.2f}",
    }
    alts = {int(vid): html.unescape(alt) for body in cards for vid, alt in _THUMBNAIL.findall(body)}
    assert alts == {
        first: "first keyframe of Cup final highlights",
        second: f"first keyframe of {ATTRIBUTE_BREAKER}",
        third: "first keyframe of Piano lesson",
    }
    assert not any(ATTRIBUTE_BREAKER in body or "<b>" in body for body in cards)
    assert "onmouseover" not in {name for body in cards for name in _attribute_names(body)}
    # the card without a file (third) is a plain thumbnail, the one without anything a blank box
    assert sum("tagger-preview-blank" in body for body in cards) == 1
    assert sum("data-preview-src" in body for body in cards) == 2

    # the media route already knows the files: the browser's first ranges skip the database
    assert {vid: media._video_paths.get(vid) for vid in seeded.video_ids} == {
        first: stored[first],
        second: stored[second],
        third: None,
        fourth: None,
    }
    assert media._thumbnail_paths.get((third, 0)) == f"thumbnails/v{third}_0.jpg"

    legend = " ".join(c.value for c in at.caption)
    assert "`P` preview the focused video" in legend, legend
    assert any("tagger-preview-keys" in h.proto.body for h in at.get("html"))  # the page script


def test_a_preview_loops_a_window_around_the_middle() -> None:
    assert preview_start(30.0) == 15.0 - PREVIEW_S / 2
    assert preview_start(1.0) == 0.0  # shorter than the window: from the start
    assert preview_start(None) == preview_start(0.0) == PREVIEW_S / 2


def test_sweep_cards_carry_the_files_on_disk_from_the_same_read(seeded) -> None:
    """The preview's file and length come with the card, read with its start (one unit of
    work per page); a file missing on disk, or never stored, gives no preview."""
    settings = seeded.settings
    here, gone, none = seeded.video_ids[:3]
    (settings.media_dir / "here.mp4").write_bytes(b"video")
    with seeded.db.session() as session:
        for vid, name, duration in ((here, "here.mp4", 12.5), (gone, "gone.mp4", None)):
            videos.set_media_info(
                session,
                video_id=vid,
                info=videos.StoredMedia(name, f"media/{name}", duration, 64, 36, False, True),
            )
    tax = cache.taxonomy()
    items = [SweepItem(v, f"video {v}", 1, 0.9, None) for v in (here, gone, none)]
    opened = []
    session = Database.session

    def counted(self):
        opened.append(1)
        return session(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Database, "session", counted)
        cards = sweep_cards(seeded.db, items=items, settings=settings, tax=tax)
    assert len(opened) == 1
    assert [c.file for c in cards] == [VideoFile("media/here.mp4", 12.5), None, None]
