"""Review page: escaping, accept/reject/add, save and flow to the next video, stale-version
conflict, transcript seeking, skip and flag."""

from __future__ import annotations

import html
import json
import re
import threading
from datetime import UTC, datetime

from streamlit.testing.v1 import AppTest

from core import quality, removal
from core import review as review_rules
from core import taxonomy as taxonomy_core
from dashboard import cache, deferred
from dashboard.components import ScoredTag, md_escape, probability_chart
from dashboard.routes import media
from db.engine import DatabaseBusyError
from db.queries import audit, labels, videos
from db.tables import NO_SPEECH, ReviewPriority, Video


def _open(at: AppTest, video_id: int) -> AppTest:
    at.session_state["review_video_id"] = video_id
    return at.switch_page("views/review.py").run()


def _review_next(at: AppTest) -> AppTest:
    """Click "Review next" on the queue; AppTest keeps requesting the page it was last switched
    to, so follow the app's own st.switch_page explicitly."""
    at.switch_page("views/queue.py").run()
    at.button(key="queue_review_next").click().run()
    assert [t.value for t in at.title] == ["Review"]
    return at.switch_page("views/review.py")


def _written(at: AppTest) -> AppTest:
    """Wait for the writes the page handed to the session's worker, then run the page again
    (the run that reports them)."""
    assert at.session_state["deferred_work"].wait(30), "a write still runs after 30 s"
    return at.run()


def _save(at: AppTest) -> list[str]:
    """Press "Save & next" and wait until the save is written; the errors the two runs showed
    (a write that fails at once, e.g. on a removed video, is reported by the click's own run)."""
    at.button[[b.label for b in at.button].index("Save & next")].click().run()
    shown = [e.value for e in at.error]
    return shown + [e.value for e in _written(at).error]


def _checkbox_by_path(at: AppTest, path_start: str):
    return next(c for c in at.checkbox if c.label.replace("\\", "").startswith(path_start))


def _human(seeded, video_id: int) -> list[str]:
    with seeded.db.session() as s:
        return sorted(
            lab.node_id for lab in labels.get_labels(s, video_id=video_id, source="human")
        )


def test_user_text_is_escaped(signed_in, seeded) -> None:
    at = _open(signed_in("mod"), seeded.video_ids[1])
    heading = at.subheader[0].value
    assert "<b>" not in heading and "](http" not in heading and "**x**" not in heading
    assert heading.replace("\\", "") == "<b>bold</b> [click](http://evil.example) **x**"
    assert "desc 1 <script>alert(1)</script>" in [
        t.value for t in at.text
    ]  # st.text: shown literally


def test_accept_reject_add_then_next(signed_in, seeded) -> None:
    tax = taxonomy_core.load_iab3()
    soccer, tennis = tax.find("Sports: Soccer").id, tax.find("Sports: Tennis").id
    at = _review_next(signed_in("mod"))
    first = seeded.video_ids[0]
    assert at.session_state["review_video_id"] == first
    _checkbox_by_path(at, "Sports: Soccer").uncheck()  # reject the suggestion
    at.multiselect(key=f"review_add_{first}").select(tennis)  # add a tag by search
    _save(at)
    assert not at.exception
    assert _human(seeded, first) == [tennis]
    assert soccer not in _human(seeded, first)
    assert at.session_state["review_video_id"] == seeded.video_ids[1]  # flowed to the next
    assert at.success[0].value == f"Saved video {first}\\."


def test_prediction_chart_shows_the_most_probable_tags(signed_in, seeded) -> None:
    at = _open(signed_in("mod"), seeded.video_ids[0])
    [chart] = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert spec["encoding"]["x"]["field"] == "probability"
    assert spec["encoding"]["color"]["scale"]["domain"] == ["predicted", "below threshold"]
    assert spec["encoding"]["color"]["legend"]["direction"] == "vertical"  # whole in the column
    tags = [
        ScoredTag(f"n{i}", f"Tag {i}", f"Tag {i}", 1, p, p >= 0.5)
        for i, p in enumerate([0.2, 0.9, 0.55, 0.1] * 4)
    ]
    rows = probability_chart(tags, top=5)["data"]["values"]
    assert [r["probability"] for r in rows] == [0.9] * 4 + [0.55]
    assert [r["decision"] for r in rows] == ["predicted"] * 5


def test_add_picker_offers_the_whole_taxonomy(signed_in, seeded) -> None:
    at = _open(signed_in("mod"), seeded.video_ids[0])
    picker = at.multiselect(key=f"review_add_{seeded.video_ids[0]}")
    assert len(picker.options) >= 700
    assert "Sports: Tennis" in picker.options


def test_stale_version_conflict_keeps_selection(signed_in, seeded) -> None:
    """A save refused in the worker is reported on the next video; opening the video again
    shows the other's tags with the moderator's selection kept, and saving over them works."""
    tax = taxonomy_core.load_iab3()
    tennis, travel = tax.find("Sports: Tennis").id, tax.find("Travel").id
    vid = seeded.video_ids[0]
    at = _open(signed_in("mod"), vid)
    boss = signed_in("boss").session_state["current_user"]
    with seeded.db.session() as s:  # someone else saves first
        review_rules.save_review(s, video_id=vid, expected_version=0, node_ids=[travel], user=boss)
    at.multiselect(key=f"review_add_{vid}").select(tennis)
    _save(at)
    assert at.session_state["review_video_id"] != vid  # moved on at once
    assert f"Your save of video {vid} was not applied" in at.error[0].value
    assert _human(seeded, vid) == [travel]
    at.button(key="review_reopen").click().run()
    assert at.session_state["review_video_id"] == vid
    assert "Someone else changed this video" in at.error[0].value
    assert "Travel" in at.error[0].value
    assert at.multiselect(key=f"review_add_{vid}").value == [tennis]  # nothing lost
    assert _checkbox_by_path(at, "Sports: Soccer").value  # ticked as the moderator left it
    at.button(key="review_take_latest").click().run()
    _save(at)
    soccer = tax.find("Sports: Soccer").id
    assert _human(seeded, vid) == sorted([soccer, tennis])
    assert not [e for e in at.error if "was not applied" in e.value]


def _seek_buttons(at: AppTest) -> list[tuple[str, str]]:
    """(data-seek, visible text) of the page's in-browser seek buttons."""
    found = []
    for element in at.get("html"):
        for seek, text in re.findall(
            r'<button type="button" class="tagger-seek" data-seek="([\d.]+)">.*?<span>(.*?)</span>',
            element.proto.body,
        ):
            found.append((seek, html.unescape(text)))
    return found


def test_transcript_line_seeks_the_player(signed_in, seeded) -> None:
    """A line is a button that seeks the player in the browser (no run of the page)."""
    vid = seeded.video_ids[0]
    at = _open(signed_in("mod"), vid)
    assert ("12.50", "▶ 00:12  Goal!") in _seek_buttons(at)
    assert any("tagger-review-keys" in h.proto.body for h in at.get("html"))  # the click handler


def test_skip_and_flag(signed_in, seeded) -> None:
    at = _review_next(signed_in("mod"))
    first = at.session_state["review_video_id"]
    at.button[[b.label for b in at.button].index("Skip")].click().run()
    second = at.session_state["review_video_id"]
    assert second != first
    at.text_input(key=f"review_flag_reason_{second}").input("audio is missing")
    _written(at.button[[b.label for b in at.button].index("Flag")].click().run())
    assert at.session_state["review_video_id"] not in (first, second)
    with seeded.db.session() as s:
        flagged = videos.get_video(s, video_id=second)
        assert (
            flagged.flagged
            and flagged.flag_reason == "audio is missing"
            and flagged.claimed_by is None
        )
        assert audit.list_audit(s, video_id=first, action="release")
    reopened = _open(signed_in("mod"), second)  # the reason is in plain view above the player
    assert md_escape("Flagged: audio is missing") in [w.value for w in reopened.warning]


def test_claimed_by_someone_else_is_read_only(signed_in, seeded) -> None:
    _review_next(signed_in("mod"))
    boss = _open(signed_in("boss"), seeded.video_ids[0])
    assert "Read only" in boss.warning[0].value and "mod" in boss.warning[0].value
    save = boss.button[[b.label for b in boss.button].index("Save & next")]
    assert save.disabled


def _shortcuts(at: AppTest) -> dict[str, str]:
    return {b.proto.shortcut.upper(): b.label for b in at.button if b.proto.shortcut}


def test_every_action_has_a_key_and_the_page_lists_them(signed_in, seeded) -> None:
    at = _open(signed_in("mod"), seeded.video_ids[0])
    keys = _shortcuts(at)
    assert keys["S"] == "Save & next" and keys["N"] == "Skip" and keys["F"] == "Flag"
    assert keys["A"] == "Accept all suggestions" and keys["B"] == "◀ Back"
    candidates = [c for c in at.checkbox if c.key.startswith("review_acc_")]
    assert [keys[str(i + 1)] for i in range(len(candidates))] == [
        str(i + 1) for i in range(len(candidates))
    ]
    legend = " ".join(c.value for c in at.caption)
    for key in (
        "`S` save",
        "`N` skip",
        "`F` flag",
        "`B` back",
        "`A` accept",
        "`1-9`",
        "`/` focus",
        "`K` play",
    ):
        assert key in legend, legend
    assert any("tagger-review-keys" in h.proto.body for h in at.get("html"))  # player/search keys


def test_number_keys_toggle_and_accept_all_ticks_the_suggestions(signed_in, seeded) -> None:
    vid = seeded.video_ids[0]
    at = _open(signed_in("mod"), vid)
    soccer = _checkbox_by_path(at, "Sports: Soccer")
    assert soccer.value
    at.button(key=f"review_toggle_{vid}_0").click().run()  # key "1"
    assert not _checkbox_by_path(at, "Sports: Soccer").value
    at.button[[b.label for b in at.button].index("Accept all suggestions")].click().run()
    assert _checkbox_by_path(at, "Sports: Soccer").value
    at.button(key=f"review_toggle_{vid}_0").click().run()
    _save(at)
    assert _human(seeded, vid) == []  # toggled off, saved as "no tags"


def test_the_next_video_is_claimed_and_loaded_while_one_is_reviewed(signed_in, seeded) -> None:
    first, second = seeded.video_ids[:2]
    at = _open(signed_in("mod"), first)
    mod = at.session_state["current_user"]
    with seeded.db.session() as s:
        assert videos.get_video(s, video_id=second).claimed_by == mod.id
    assert set(at.session_state["review_loaded"]) == {first, second}
    boss = _open(signed_in("boss"), second)  # nobody else can take the prepared video
    assert "Read only" in boss.warning[0].value
    _save(at)
    assert at.session_state["review_video_id"] == second
    assert set(at.session_state["review_loaded"]) == {second, seeded.video_ids[2]}


def test_a_video_raised_meanwhile_goes_before_the_prepared_one(signed_in, seeded) -> None:
    """A video raised to urgent after the next one was prepared (a user's report, a rule on a
    new prediction) is the one "save & next" shows, with a word; the prepared video, still the
    moderator's, comes after it."""
    first, second, third = seeded.video_ids[:3]
    at = _open(signed_in("mod"), first)
    assert set(at.session_state["review_loaded"]) == {first, second}
    with seeded.db.session() as s:
        review_rules.set_priority(
            s, video_id=third, user=None, priority=ReviewPriority.URGENT, reason="reported"
        )
    cache.priority_backlog.clear()  # the server's count of raised videos, cached for seconds
    at.button[[b.label for b in at.button].index("Save & next")].click().run()
    assert at.session_state["review_video_id"] == third
    assert md_escape(
        f"Video {third} is of urgent priority: it goes first, video {second} comes after it."
    ) in [s.value for s in at.success]
    _written(at)
    assert _save(at) == []
    assert at.session_state["review_video_id"] == second


def test_a_video_whose_media_expired_says_so_where_the_player_was(signed_in, seeded) -> None:
    video_id = seeded.video_ids[0]
    with seeded.db.session() as s:
        video = s.get(Video, video_id)
        video.media_deleted_at = datetime(2026, 11, 2, tzinfo=UTC)
        s.add(video)
    at = _open(signed_in("mod"), video_id)
    assert not at.exception
    assert (
        "The video file was deleted on 2026-11-02, after its review, by the media retention "
        "setting (TAGGER_MEDIA_RETENTION_DAYS); its keyframes, transcript and tags are kept."
    ) in [i.value for i in at.info]
    assert ("12.50", "▶ 00:12  Goal!") in _seek_buttons(at)  # its transcript is still there


def test_a_prepared_video_changed_meanwhile_is_read_again(signed_in, seeded) -> None:
    first, second = seeded.video_ids[:2]
    at = _open(signed_in("mod"), first)
    boss = signed_in("boss").session_state["current_user"]
    travel = taxonomy_core.load_iab3().find("Travel").id
    with seeded.db.session() as s:
        review_rules.save_review(
            s, video_id=second, expected_version=0, node_ids=[travel], user=boss
        )
        videos_sent = review_rules.send_back_for_review(
            s, video_ids=[second], user=boss, reason="x"
        )
    assert videos_sent == 1
    _save(at)  # the save's write renews the claim on the prepared video and finds it changed
    assert at.session_state["review_video_id"] == second
    assert _checkbox_by_path(at, "Travel").value  # their saved tags, read again


def test_keyframe_buttons_show_their_time(signed_in, seeded, tmp_path) -> None:
    vid = seeded.video_ids[0]
    with seeded.db.session() as s:
        videos.replace_keyframes(s, video_id=vid, frames=[(12.4, "thumbs/a.jpg"), (75, "b.jpg")])
    at = _open(signed_in("mod"), vid)
    assert _seek_buttons(at)[:2] == [("12.40", "▶ 00:12"), ("75.00", "▶ 01:15")]


def test_keyframe_thumbnails_come_from_the_media_route(signed_in, seeded) -> None:
    """The browser fetches thumbnails by URL (cached, signed-in only); the server holds none,
    and a thumbnail whose file is missing gets no image."""
    vid = seeded.video_ids[0]
    settings = seeded.settings
    (settings.thumbnails_dir / "a.jpg").write_bytes(b"jpeg")
    with seeded.db.session() as s:
        videos.replace_keyframes(
            s, video_id=vid, frames=[(1.0, "thumbnails/a.jpg"), (2.0, "thumbnails/gone.jpg")]
        )
    at = _open(signed_in("mod"), vid)
    images = re.findall(r'<img src="([^"]+)"', "".join(h.proto.body for h in at.get("html")))
    assert images == [media.thumbnail_url(vid, 0)]
    assert not at.get("imgs")  # nothing through Streamlit's in-memory media store


def test_modality_notes_say_what_was_used_and_what_was_dropped(signed_in, seeded) -> None:
    video_id = seeded.video_ids[2]
    notes = [
        {
            "modality": "audio",
            "status": "dropped",
            "detail": "the audio stream has no decodable frames",
        },
        {"modality": "frames", "status": "used", "detail": "16 keyframes"},
        {
            "modality": "subtitles",
            "status": "warning",
            "detail": "subtitles are tagged en, speech detected as ru (93% sure)",
        },
    ]
    with seeded.db.session() as s:
        videos.set_modality_notes(s, video_id=video_id, notes=notes)
    at = _open(signed_in("mod"), video_id)
    assert not at.exception
    [expander] = [e for e in at.expander if e.label.startswith("Inputs used for tagging")]
    assert "2 problems" in expander.label
    [table] = expander.dataframe
    assert list(table.value["status"]) == ["missing", "used", "check"]
    assert "no decodable frames" in table.value["detail"][0]


def test_the_tag_the_model_is_least_sure_about_is_named_and_offered(signed_in, seeded) -> None:
    """Said above the chart, and offered unticked in the checklist (a number key away), where
    it is not a suggestion already."""
    video_id = seeded.video_ids[1]
    at = _open(signed_in("mod"), video_id)
    assert not [c for c in at.caption if c.value.startswith("Least sure about")]
    tennis = taxonomy_core.load_iab3().find("Sports: Tennis").id  # never predicted here
    with seeded.db.session() as s:
        video = videos.get_video(s, video_id=video_id)
        summary = videos.PredictionSummary(video_id, 0.9, video.top_tag, doubt_tag=tennis)
        videos.set_prediction_summaries(
            s, model_version_id=video.predicted_model_id, summaries=[summary]
        )
    at = _open(signed_in("mod"), video_id)
    assert "Least sure about: Sports: Tennis" in [c.value.replace("\\", "") for c in at.caption]
    offered = _checkbox_by_path(at, "Sports: Tennis")
    assert "least sure" in offered.label and not offered.value
    offered.check()
    _save(at)
    assert tennis in _human(seeded, video_id)


def test_header_names_the_detected_spoken_language(signed_in, seeded) -> None:
    video_id = seeded.video_ids[2]
    at = _open(signed_in("mod"), video_id)
    assert "spoken language" not in at.caption[0].value
    with seeded.db.session() as s:
        videos.set_spoken_language(s, video_id=video_id, language="de", probability=0.9)
    at = _open(signed_in("mod"), video_id)
    assert "spoken language: de" in at.caption[0].value.replace("\\", "")
    with seeded.db.session() as s:
        videos.set_spoken_language(s, video_id=video_id, language=NO_SPEECH, probability=None)
    at = _open(signed_in("mod"), video_id)
    caption = at.caption[0].value.replace("\\", "")
    assert "no speech heard" in caption and "spoken language" not in caption


def test_a_save_the_database_could_not_take_can_be_made_again(signed_in, seeded, monkeypatch):
    """A save that fails in the worker (here: the database busy) is reported on the next video
    and offered again as the moderator left it, without a conflict (nobody else saved)."""
    tax = taxonomy_core.load_iab3()
    tennis, soccer = tax.find("Sports: Tennis").id, tax.find("Sports: Soccer").id
    vid = seeded.video_ids[0]
    at = _open(signed_in("mod"), vid)
    at.multiselect(key=f"review_add_{vid}").select(tennis)

    def busy(*args, **kwargs):
        raise DatabaseBusyError("the database is busy (another process writes to it)")

    with monkeypatch.context() as patched:
        patched.setattr(quality, "save_labels", busy)
        _save(at)
    assert at.session_state["review_video_id"] != vid
    assert "was not applied: the database is busy" in at.error[0].value.replace("\\", "")
    assert _human(seeded, vid) == []
    at.button(key="review_reopen").click().run()
    assert at.session_state["review_video_id"] == vid
    assert not any("Someone else changed" in e.value for e in at.error)
    assert at.multiselect(key=f"review_add_{vid}").value == [tennis]
    _save(at)
    assert _human(seeded, vid) == sorted([soccer, tennis])


def test_an_admin_removes_the_video_on_screen_and_moderators_cannot(signed_in, seeded) -> None:
    """A takedown from the Review page: confirmed, audited with its reason, then the next video
    opens; the section is not shown to moderators (the action checks the role too)."""
    moderator = _open(signed_in("mod"), seeded.video_ids[3])
    assert "Remove" not in [b.label for b in moderator.button]
    at = _review_next(signed_in("boss"))
    first = at.session_state["review_video_id"]

    def remove() -> None:
        at.button[[b.label for b in at.button].index("Remove")].click().run()

    at.text_input(key=f"review_remove_reason_{first}").input("takedown 42")
    remove()
    assert at.session_state["review_video_id"] == first  # not confirmed: nothing happened
    assert [e.value for e in at.error] == [
        md_escape("Tick the box to confirm: a removal cannot be undone.")
    ]
    at.checkbox(key=f"review_remove_sure_{first}").check()
    remove()
    assert not at.exception
    assert at.session_state["review_video_id"] not in (None, first)
    assert md_escape(f"Removed video {first} for good.") in [s.value for s in at.success]
    with seeded.db.session() as s:
        assert videos.get_videos(s, video_ids=[first]) == []
        [entry] = audit.list_audit(s, video_id=first, action="video_removed")
    assert entry.username == "boss"
    assert json.loads(entry.detail_json)["reason"] == "takedown 42"


def test_a_lead_sets_the_priority_the_moderator_sees_it(signed_in, seeded) -> None:
    """Leads and admins raise a video's priority from the Review page (audited with their
    name); moderators see it with its reason and have no form to change it."""
    video_id = seeded.video_ids[2]
    at = _open(signed_in("boss"), video_id)
    assert not at.error
    at.selectbox(key=f"review_priority_level_{video_id}").set_value("urgent")
    at.text_input(key=f"review_priority_reason_{video_id}").input("legal request 7")
    at.button[[b.label for b in at.button].index("Set priority")].click().run()
    assert not at.exception
    assert md_escape(f"Video {video_id} is of urgent priority now.") in [
        s.value for s in at.success
    ]
    assert md_escape(
        "Urgent priority: legal request 7 (raised 0 min ago, the target is 30 min)"
    ) in [e.value for e in at.error]
    with seeded.db.session() as s:
        [entry] = audit.list_audit(s, video_id=video_id, action="priority_set")
    assert entry.username == "boss"
    assert json.loads(entry.detail_json) == {
        "priority": "urgent",
        "before": "normal",
        "reason": "legal request 7",
    }
    moderator = _open(signed_in("mod"), video_id)
    assert md_escape(
        "Urgent priority: legal request 7 (raised 0 min ago, the target is 30 min)"
    ) in [e.value for e in moderator.error]
    assert "Set priority" not in [b.label for b in moderator.button]


def test_back_opens_the_last_video_left_as_it_was_written(signed_in, seeded) -> None:
    """A save made by mistake: "back" reopens the video with the saved tags ticked, a second
    save corrects it, and the queue goes on with the video that was on screen; back again
    after a skip reopens the skipped video."""
    tax = taxonomy_core.load_iab3()
    soccer, tennis = tax.find("Sports: Soccer").id, tax.find("Sports: Tennis").id
    at = _review_next(signed_in("mod"))
    first = at.session_state["review_video_id"]
    assert at.button(key="review_back").disabled  # nothing left yet
    _save(at)  # saved with the suggestion, Soccer, by mistake
    second = at.session_state["review_video_id"]
    assert second != first and _human(seeded, first) == [soccer]

    at.button(key="review_back").click().run()
    assert at.session_state["review_video_id"] == first
    assert _checkbox_by_path(at, "Sports: Soccer").value  # what was written, ticked
    _checkbox_by_path(at, "Sports: Soccer").uncheck()
    at.multiselect(key=f"review_add_{first}").select(tennis)
    _save(at)
    assert not at.exception
    assert _human(seeded, first) == [tennis]
    assert at.session_state["review_video_id"] == second  # still ours: it comes next

    at.button[[b.label for b in at.button].index("Skip")].click().run()
    third = at.session_state["review_video_id"]
    assert third not in (first, second)
    _written(at.button(key="review_back").click().run())
    assert at.session_state["review_video_id"] == second
    assert [t.value for t in at.title] == ["Review"] and not at.exception


def test_back_while_the_left_video_is_still_written_says_so(signed_in, seeded, monkeypatch):
    """The Back key shows the left video as its write left it, so it waits for that write; when
    the write is not done in time the video on screen stays and the page says why, and Back
    works once the write is done."""
    soccer = taxonomy_core.load_iab3().find("Sports: Soccer").id
    at = _review_next(signed_in("mod"))
    first = at.session_state["review_video_id"]
    gate = threading.Event()  # the save waits for it before it opens the database
    submit, wait = deferred.DeferredWork.submit, deferred.DeferredWork.wait

    def held(work, about, write, *, token=None):
        def after_the_gate():
            gate.wait(30)
            return write()

        return submit(work, about, after_the_gate, token=token)

    monkeypatch.setattr(deferred.DeferredWork, "submit", held)
    monkeypatch.setattr(deferred.DeferredWork, "wait", lambda work, timeout_s: wait(work, 0.05))
    try:
        at.button[[b.label for b in at.button].index("Save & next")].click().run()
        second = at.session_state["review_video_id"]
        at.button(key="review_back").click().run()
        assert at.session_state["review_video_id"] == second != first
        assert md_escape(
            f"Video {first} is still being written: press Back again in a moment."
        ) in [e.value for e in at.error]
    finally:
        gate.set()
    assert wait(at.session_state["deferred_work"], 30)
    at.button(key="review_back").click().run()
    assert at.session_state["review_video_id"] == first and not at.exception
    assert _checkbox_by_path(at, "Sports: Soccer").value and _human(seeded, first) == [soccer]


def test_a_video_removed_while_it_is_reviewed_or_prepared(signed_in, seeded) -> None:
    """An admin removes the prepared video: the moderator's save stands and the page says the
    next one is gone; then the video on screen: its save is reported as not applied, without
    an offer to open it again."""
    first, second = seeded.video_ids[:2]
    at = _open(signed_in("mod"), first)
    assert set(at.session_state["review_loaded"]) == {first, second}
    removal.remove_video(
        seeded.db, settings=seeded.settings, video_id=second, user=None, reason="x"
    )
    _save(at)
    assert not at.exception
    assert _human(seeded, first) == [taxonomy_core.load_iab3().find("Sports: Soccer").id]
    assert at.session_state["review_video_id"] is None
    assert md_escape(f"Video {second} no longer exists: it was removed.") in [
        s.value for s in at.success
    ]

    at.button(key="review_next_empty").click().run()
    shown = at.session_state["review_video_id"]
    assert shown not in (None, first, second)
    removal.remove_video(seeded.db, settings=seeded.settings, video_id=shown, user=None, reason="x")
    errors = _save(at)
    assert not at.exception
    assert md_escape(f"Video {shown} was not saved: it was removed meanwhile.") in errors
    assert not [b for b in at.button if b.label.startswith("Open video")]
