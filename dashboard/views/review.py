"""Review one video: watch it, read its transcript, accept/reject the model's tags, add others,
save.

The page claims the video while it is open (others see it "in review"), remembers the version
it first read, and saves against that version: if someone else saved meanwhile, the save is
refused, and the moderator can open the video again with their selection kept and choose what
to do.

Every action has a key (listed on the page). While one video is reviewed the next one of the
queue is already claimed and loaded, so "save & next" shows it at once: the save (and a skip or
flag) is written in the browser session's worker (:mod:`dashboard.deferred`) while the page
draws the next video, and its outcome is reported on the page's next run.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NoReturn

import streamlit as st

from core.config import get_settings
from core.errors import TaggerError
from core.removal import MAX_REASON
from core.review import PRIORITY_REASON_MAX_CHARS, priority_name
from dashboard import actions, cache, deferred, state
from dashboard.components import (
    PLAYER_KEYS,
    SeekPoint,
    duration,
    md_escape,
    player_keys,
    probability_chart,
    render_ingest_details,
    render_tag_tree,
    require_taxonomy,
    seek_points,
    shortcut_legend,
    timecode,
    video_player,
)
from dashboard.review_data import ReviewData, load_review, read_review
from dashboard.routes import media
from db.queries import NotFoundError, StaleVersionError
from db.queries.review import VideoClaimedError
from db.tables import NO_SPEECH, ReviewPriority, Role, utcnow

CONFLICT = "review_conflict"
REFUSED = "review_refused"  # (state.ReviewWrite, why, stale) of a save the worker could not write
WRITE_ERROR = "review_write_error"  # why the worker could not write a skip or flag
WRITTEN = "review_written"  # the last write's outcome, e.g. "Saved video 7."
MAX_TRANSCRIPT_LINES = 400
MAX_KEYFRAMES = 16
NUMBERED = 9  # suggestions toggled with the keys 1-9
LEFT = "review_left"  # the videos left by a save, skip or flag in this sitting, newest last
BACK_LIMIT = 20  # how far "back" goes
BACK_WAIT_S = 30.0  # how long "back" waits for the left video's write, so it shows what was written
KEYS = (
    ("S", "save & next"),
    ("N", "skip"),
    ("F", "flag"),
    ("B", "back to the last video"),
    ("A", "accept all suggestions"),
    ("1-9", "toggle tag"),
    *PLAYER_KEYS,
)
_DONE = {"save": "Saved", "skip": "Skipped", "flag": "Flagged"}

db = cache.database()
settings = get_settings()
tax = cache.taxonomy()
user = state.user()
baselines: dict[int, state.Baseline] = st.session_state[state.BASELINES]
loaded: dict[int, ReviewData] = st.session_state[state.LOADED]


def _load(video_id: int) -> ReviewData:
    """The video as first read for this review (reruns of the page do not query it again)."""
    if video_id not in loaded:
        loaded[video_id] = load_review(db, video_id=video_id, user=user, settings=settings, tax=tax)
    return loaded[video_id]


def _excluded(*video_ids: int) -> list[int]:
    """Videos the queue must not offer now: skipped ones, ``video_ids``, and those whose write
    is still with the worker (a saved video stays claimed by this moderator until its save is
    written, and the queue offers one's own claims first)."""
    writing = [handed.about.video_id for handed in deferred.work().pending()]
    return [*st.session_state[state.SKIPPED], *video_ids, *writing]


def _claim_and_read_next(
    exclude_ids: list[int], above: ReviewPriority | None = None
) -> ReviewData | None:
    """The next video of the queue (the queue page's filters; only of a priority ``above`` the
    one given, if given), claimed and read in one unit of work."""
    return actions.claim_next_and_read(
        db,
        filters=st.session_state.get(state.QUEUE_FILTERS),
        exclude_ids=exclude_ids,
        read=lambda session, video: read_review(
            session, video_id=video.id, user=user, settings=settings, tax=tax
        ),
        above=above,
    )


def _raised_meanwhile(prepared: ReviewData) -> ReviewData | None:
    """A video of a higher priority than the one prepared next, raised while the moderator
    worked (a user's report, a rule on a new prediction), claimed and read: it goes first, and
    the prepared one, still claimed, comes after it. The database is asked only when the
    server's count of raised videos (cached for seconds) has one above the prepared video."""
    level = ReviewPriority(prepared.video.priority)
    waiting = cache.priority_backlog(db.url)
    if not any(backlog.videos for other, backlog in waiting.items() if other > level):
        return None
    raised = _claim_and_read_next(_excluded(prepared.video.id), above=level)
    if raised is not None:
        st.session_state[state.FLASH] = (
            f"Video {raised.video.id} is of {priority_name(raised.video.priority)} priority: it "
            f"goes first, video {prepared.video.id} comes after it."
        )
    return raised


def _open_next(prepared_id: int | None = None) -> None:
    """Show the next video: the prepared one (``prepared_id``, its claim renewed by the write
    that left the current video) unless one of a higher priority was raised meanwhile, else the
    next of the queue."""
    prepared = loaded.get(prepared_id) if prepared_id is not None else None
    if prepared is not None:
        prepared = _raised_meanwhile(prepared) or prepared
    if prepared is None:
        prepared = _claim_and_read_next(_excluded())
    st.session_state[state.REVIEW_VIDEO] = prepared.video.id if prepared is not None else None
    st.session_state[state.REVIEW_NEXT] = None
    st.session_state.pop(CONFLICT, None)
    loaded.clear()
    if prepared is None:
        st.session_state[state.FLASH] = "The queue is empty for your filters."
    else:
        loaded[prepared.video.id] = replace(prepared, claim=replace(prepared.claim, held=True))


def _prepared(current: int) -> int | None:
    """The id of the video prepared after ``current`` (None when nothing is left)."""
    prepared = st.session_state.get(state.REVIEW_NEXT)
    return prepared[1] if prepared and prepared[0] == current else None


def _prepare_next(current: int) -> None:
    """Claim and load the video after ``current`` once, while the moderator works on it."""
    prepared = st.session_state.get(state.REVIEW_NEXT)
    if prepared and prepared[0] == current:
        return
    data = _claim_and_read_next(_excluded(current))
    if data is not None:
        loaded[data.video.id] = data
    st.session_state[state.REVIEW_NEXT] = (current, data.video.id if data is not None else None)


def _selection(video_id: int) -> list[str]:
    ticked = [
        node
        for node in baselines[video_id].candidates
        if st.session_state.get(f"review_acc_{video_id}_{node}")
    ]
    return [*ticked, *st.session_state.get(f"review_add_{video_id}", [])]


def _current(video_id: int) -> bool:
    """False for a key pressed on a screen already left (a second press before the next video
    replaced the form): such a press must not act on a video the moderator has not seen."""
    return video_id == st.session_state.get(state.REVIEW_VIDEO) and video_id in baselines


def _save(video_id: int) -> None:
    if not _current(video_id):
        return
    node_ids = _selection(video_id)
    baseline = baselines.pop(video_id)
    st.session_state.pop(WRITTEN, None)
    then_claim = _prepared(video_id)
    actions.defer_save_review(
        db,
        video_id=video_id,
        expected_version=baseline.version,
        node_ids=node_ids,
        then_claim=then_claim,
        about=state.ReviewWrite(video_id, "save", then_claim, tuple(node_ids), baseline),
    )
    _leave(video_id)
    _open_next(then_claim)


def _skip(video_id: int, action: str = "skip") -> None:
    if not _current(video_id):
        return
    then_claim = _prepared(video_id)
    st.session_state.pop(WRITTEN, None)
    actions.defer_release(
        db,
        video_id=video_id,
        skipped=True,
        then_claim=then_claim,
        about=state.ReviewWrite(video_id, action, then_claim),
    )
    st.session_state[state.SKIPPED].append(video_id)
    baselines.pop(video_id, None)
    _leave(video_id)
    _open_next(then_claim)


def _flag(video_id: int) -> None:
    if not _current(video_id):
        return
    reason = st.session_state.get(f"review_flag_reason_{video_id}", "")
    actions.defer_flag(
        db, video_id=video_id, reason=reason, about=state.ReviewWrite(video_id, "flag", None)
    )
    _skip(video_id, action="flag")


def _leave(video_id: int) -> None:
    """Remember a video left by a save, skip or flag, for "back"."""
    left: list[int] = st.session_state.setdefault(LEFT, [])
    left.append(video_id)
    del left[:-BACK_LIMIT]


def _back() -> None:
    """Open again the last video left in this sitting, as its write left it (a save's labels
    ticked), once that write is done. The video on screen stays claimed, so it comes next."""
    left: list[int] = st.session_state.get(LEFT, [])
    if not left:
        return
    if not deferred.work().wait(BACK_WAIT_S):
        st.session_state[WRITE_ERROR] = (
            f"Video {left[-1]} is still being written: press Back again in a moment."
        )
        return
    previous = left.pop()
    st.session_state.pop(WRITTEN, None)
    st.session_state.pop(CONFLICT, None)
    st.session_state[state.REVIEW_VIDEO] = previous
    st.session_state[state.REVIEW_NEXT] = None
    loaded.clear()
    baselines.pop(previous, None)


def _remove(video_id: int) -> None:
    """Admins: remove the video on screen for good (:mod:`core.removal`), then open the next."""
    if not _current(video_id):
        return
    if not st.session_state.get(f"review_remove_sure_{video_id}"):
        st.session_state[WRITE_ERROR] = "Tick the box to confirm: a removal cannot be undone."
        return
    reason = st.session_state.get(f"review_remove_reason_{video_id}", "")
    try:
        removed = actions.remove_video(db, video_id=video_id, reason=reason)
    except TaggerError as e:
        st.session_state[WRITE_ERROR] = f"Video {video_id} was not removed: {e}."
        return
    st.session_state[WRITTEN] = f"Removed video {video_id} for good."
    if removed.files_left:
        st.session_state[WRITE_ERROR] = f"Could not delete: {'; '.join(removed.files_left)}."
    baselines.pop(video_id, None)
    _open_next(_prepared(video_id))


def _set_priority(video_id: int) -> None:
    """Leads and admins: raise or lower how soon the video on screen is reviewed."""
    level = st.session_state.get(f"review_priority_level_{video_id}", "normal")
    reason = st.session_state.get(f"review_priority_reason_{video_id}", "")
    try:
        video = actions.set_priority(db, video_id=video_id, level=level, reason=reason)
    except TaggerError as e:
        st.session_state[WRITE_ERROR] = f"The priority of video {video_id} was not changed: {e}."
        return
    if video_id in loaded:
        loaded[video_id] = replace(loaded[video_id], video=video)
    st.session_state[WRITTEN] = f"Video {video_id} is of {level} priority now."


def _gone(video_id: int) -> NoReturn:
    """The video on screen no longer exists (removed for good): say so, and offer the next."""
    st.session_state[state.REVIEW_VIDEO] = None
    st.session_state[state.REVIEW_NEXT] = None
    loaded.pop(video_id, None)
    baselines.pop(video_id, None)
    st.session_state[state.FLASH] = f"Video {video_id} no longer exists: it was removed."
    st.rerun()


def _take_in_finished() -> None:
    """Take in the writes finished since the last run: report refusals and failures, and
    re-read or re-claim the video on screen when its write found it changed or taken."""
    for handed in deferred.work().finished():
        written: state.ReviewWrite = handed.about
        try:
            claimed = handed.future.result()
        except StaleVersionError:
            why = "someone else changed the video meanwhile (a saved review or a send-back)"
            st.session_state[REFUSED] = (written, why, True)
            continue
        except NotFoundError:  # removed meanwhile: nothing to save it again to
            done = _DONE.get(written.action, "changed").lower()
            st.session_state[WRITE_ERROR] = (
                f"Video {written.video_id} was not {done}: it was removed meanwhile."
            )
            continue
        except TaggerError as e:
            if written.action == "save":
                st.session_state[REFUSED] = (written, str(e), False)
            else:
                done = _DONE.get(written.action, "changed").lower()
                st.session_state[WRITE_ERROR] = f"Video {written.video_id} was not {done}: {e}."
            continue
        state.confirm_check(handed.started_at)
        if written.action in _DONE:
            st.session_state[WRITTEN] = f"{_DONE[written.action]} video {written.video_id}."
        shown = st.session_state.get(state.REVIEW_VIDEO)
        data = loaded.get(shown) if shown is not None else None
        if written.then_claim != shown or data is None:
            continue
        if claimed is None:  # taken meanwhile: the page claims it again, or reads it only
            loaded[shown] = replace(data, claim=replace(data.claim, held=False))
        elif claimed.version != data.video.version:  # changed since prepared: read it again
            loaded.pop(shown)
            baselines.pop(shown, None)


def _show_writes() -> None:
    """The outcome of the last finished write, and the writes still with the worker,
    whose outcome shows on the next run. The page does not poll for them: a timed rerun while
    the moderator works delayed the next key's run (save → next p95 788-1001 ms with a 0.5 s
    fragment timer against 454-528 ms without, side by side on the loaded 2-core machine)."""
    done = st.session_state.get(WRITTEN)  # shown until the next write is handed over
    if done:
        st.success(md_escape(done))
    writing = [str(handed.about.video_id) for handed in deferred.work().pending()]
    if writing:
        st.caption(f"Saving video {', '.join(writing)}…")


def _reopen(written: state.ReviewWrite, stale: bool) -> None:
    """Open a video whose save was not written again, with the moderator's selection ticked;
    when someone else saved it meanwhile (``stale``), with their tags shown and the choice to
    save over them."""
    assert written.baseline is not None
    st.session_state.pop(REFUSED, None)
    st.session_state[state.REVIEW_VIDEO] = written.video_id
    st.session_state[state.REVIEW_NEXT] = None
    loaded.clear()
    old = written.baseline
    baselines[written.video_id] = replace(
        old, labels=tuple(n for n in old.candidates if n in written.node_ids)
    )
    st.session_state[f"review_add_{written.video_id}"] = [
        n for n in written.node_ids if n not in old.candidates
    ]
    if stale:
        st.session_state[CONFLICT] = {"video_id": written.video_id}


def _toggle(key: str) -> None:
    st.session_state[key] = not st.session_state.get(key, False)


def _accept_all(video_id: int, node_ids: list[str]) -> None:
    for node in node_ids:
        st.session_state[f"review_acc_{video_id}_{node}"] = True


def _player(data: ReviewData) -> None:
    """The one place the video is shown: streamed from our media route, never held in memory."""
    deleted_at = data.video.media_deleted_at
    playable = deleted_at is None and data.media_path is not None
    media.expect(
        data.video.id,
        video=data.video.stored_path if playable else None,
        thumbnails={k.index: k.stored for k in data.keyframes if k.index is not None},
    )
    if playable:
        video_player(data.video.id, captions=bool(data.segments))
    elif deleted_at is not None:  # core/retention.py
        st.info(
            f"The video file was deleted on {deleted_at:%Y-%m-%d}, after its review, by the media "
            "retention setting (TAGGER_MEDIA_RETENTION_DAYS); its keyframes, transcript and "
            "tags are kept."
        )
    else:
        st.warning("The video file is not available on this server.")


st.title("Review")
_take_in_finished()
notice = st.session_state.pop(state.FLASH, None)
if notice:
    st.success(md_escape(notice))
problem = st.session_state.pop(WRITE_ERROR, None)
if problem:
    st.error(md_escape(problem))
if REFUSED in st.session_state:
    refused, why, stale = st.session_state[REFUSED]
    st.error(md_escape(f"Your save of video {refused.video_id} was not applied: {why}."))
    reopen, dismiss = st.columns(2)
    reopen.button(
        f"Open video {refused.video_id} again, with your selection",
        key="review_reopen",
        on_click=_reopen,
        args=(refused, stale),
    )
    dismiss.button(
        "Dismiss", key="review_refused_dismiss", on_click=st.session_state.pop, args=(REFUSED, None)
    )
_show_writes()
tax = require_taxonomy(tax)

video_id = st.session_state.get(state.REVIEW_VIDEO)
if video_id is None:
    st.info("No video is open. Take the next one from the queue.")
    st.button(
        "▶ Review next", type="primary", key="review_next_empty", on_click=_open_next, shortcut="S"
    )
    if st.session_state.get(LEFT):  # e.g. the last video of the queue was saved by mistake
        st.button("◀ Back", key="review_back_empty", shortcut="B", on_click=_back)
    st.stop()

try:
    data = _load(video_id)
except NotFoundError:
    _gone(video_id)

video = data.video
read_only = False
if not data.claim.held:
    try:
        actions.claim_video(db, video_id=video_id)
        loaded[video_id] = replace(data, claim=replace(data.claim, held=True))
    except VideoClaimedError as e:
        read_only = True
        st.warning(f"Read only: {md_escape(str(e))}")
    except NotFoundError:  # removed since it was prepared
        _gone(video_id)
# the tag whose decision is the model's closest call: offered unticked beside the suggestions
doubt = video.doubt_tag if video.predicted_model_id == data.model_version_id else None
if video_id not in baselines:
    baselines[video_id] = state.Baseline(
        version=video.version,
        labels=tuple(data.current_labels),
        candidates=tuple(
            dict.fromkeys(
                [*data.current_labels, *(t.node_id for t in data.suggested), *filter(None, [doubt])]
            )
        ),
    )
baseline = baselines[video_id]

# --- header ------------------------------------------------------------------------------------
st.subheader(md_escape(video.title or f"Video {video_id}"))
facts = [f"#{video_id}", video.status]
if video.duration_s:
    facts.append(timecode(video.duration_s))
if video.spoken_language == NO_SPEECH:
    facts.append("no speech heard")
elif video.spoken_language:
    facts.append(f"spoken language: {video.spoken_language}")
if data.model_version_id is not None:
    facts.append(f"model v{data.model_version_id}")
st.caption(md_escape(" · ".join(facts)))
if video.priority > ReviewPriority.NORMAL:  # the platform's or a lead's, with their reason
    show = st.error if video.priority == ReviewPriority.URGENT else st.warning
    target = duration(cache.review_targets(db.url)[ReviewPriority(video.priority)])
    raised = ""
    if video.prioritized_at is not None:
        raised = f"raised {duration((utcnow() - video.prioritized_at).total_seconds())} ago, "
    show(
        md_escape(
            f"{priority_name(video.priority).capitalize()} priority: "
            f"{video.priority_reason or 'no reason given'} ({raised}the target is {target})"
        ),
        icon=":material/priority_high:",
    )
if video.flagged:  # a moderator's flag, a lead's rejection with its comment, a second review
    st.warning(md_escape(f"Flagged: {video.flag_reason or 'no reason given'}"))
shortcut_legend(KEYS)
player_keys()
st.button(
    "◀ Back",
    key="review_back",
    shortcut="B",
    on_click=_back,
    disabled=not st.session_state.get(LEFT),
    help="Open again the last video you saved, skipped or flagged",
)

left, right = st.columns([3, 2], gap="large")
with left:
    _player(data)
    if data.keyframes:
        st.markdown("**Keyframes**")
        seek_points(
            video_id,
            [
                SeekPoint(frame.timestamp_s, "", thumbnail=frame.index)
                for frame in data.keyframes[:MAX_KEYFRAMES]
            ],
            columns=4,
        )
    render_ingest_details(data.modality_notes, data.onscreen)
    st.markdown(f"**Transcript** ({md_escape(data.transcript_source or 'none')})")
    if data.segments:
        seek_points(
            video_id,
            [SeekPoint(s["start"], s["text"]) for s in data.segments[:MAX_TRANSCRIPT_LINES]],
            height_px=260,
        )
    else:
        st.caption("No speech or subtitles.")

with right:
    st.markdown("**Description**")
    st.text(video.description or "(none)")
    if data.tags:
        st.markdown("**Model prediction**")
        if doubt is not None:
            st.caption(md_escape(f"Least sure about: {tax.path(doubt)}"))
        st.vega_lite_chart(probability_chart(data.tags), width="stretch")
        with st.expander("Full tag tree", expanded=False):
            render_tag_tree(data.tags, tax.taxonomy)
    else:
        st.info("No prediction yet for this video.")

# --- decision form -----------------------------------------------------------------------------
st.divider()
conflict = st.session_state.get(CONFLICT)
if conflict and conflict["video_id"] == video_id:
    st.error(
        "Someone else changed this video while you were working on it "
        "(a saved review or a send-back), "
        "so your save was not applied. "
        "Your selection is still below. Their tags: "
        + md_escape(", ".join(tax.path(n) for n in data.human_labels) or "(none)")
    )
    if st.button("Keep my selection and save over theirs next time", key="review_take_latest"):
        baselines[video_id] = state.Baseline(video.version, baseline.labels, baseline.candidates)
        st.session_state.pop(CONFLICT, None)
        st.rerun()

probabilities = {t.node_id: t.probability for t in data.tags}
with st.form(f"review_form_{video_id}", enter_to_submit=True):
    st.markdown(
        "**Tags** — ticked tags are saved. The model's suggestions start ticked unless the video "
        "already has labels (then those are ticked); untick to reject."
    )
    for i, node in enumerate(baseline.candidates):
        p = probabilities.get(node)
        origin = f"model {p:.2f}" if p is not None else "no model score"
        if node == doubt:
            origin += ", least sure"
        key = f"review_acc_{video_id}_{node}"
        number, box = st.columns([1, 14], vertical_alignment="center")
        if i < NUMBERED:
            number.form_submit_button(
                str(i + 1),
                key=f"review_toggle_{video_id}_{i}",
                shortcut=str(i + 1),
                on_click=_toggle,
                args=(key,),
                disabled=read_only,
                type="tertiary",
            )
        box.checkbox(
            f"{md_escape(tax.path(node))}  ({origin})", value=node in baseline.labels, key=key
        )
    st.multiselect(
        "Add tags (type a few letters of any tag)",
        [n for n in tax.options if n not in baseline.candidates],
        format_func=tax.path,
        key=f"review_add_{video_id}",
        placeholder="search the taxonomy ( / )",
        select_all=False,
    )
    buttons = st.columns(3)
    buttons[0].form_submit_button(
        "Save & next",
        key=f"review_save_{video_id}",
        type="primary",
        disabled=read_only,
        width="stretch",
        shortcut="S",
        on_click=_save,
        args=(video_id,),
    )
    buttons[1].form_submit_button(
        "Skip", disabled=read_only, width="stretch", shortcut="N", on_click=_skip, args=(video_id,)
    )
    buttons[2].form_submit_button(
        "Accept all suggestions",
        disabled=read_only,
        width="stretch",
        shortcut="A",
        on_click=_accept_all,
        args=(video_id, [t.node_id for t in data.suggested]),
    )
# a separate form, so Enter in the reason flags instead of saving
with st.form(f"review_flag_form_{video_id}", enter_to_submit=True):
    reason_col, flag_col = st.columns([2, 1], vertical_alignment="bottom")
    reason_col.text_input("Flag for attention: reason", key=f"review_flag_reason_{video_id}")
    flag_col.form_submit_button(
        "Flag",
        disabled=read_only,
        width="stretch",
        shortcut="F",
        on_click=_flag,
        args=(video_id,),
    )

if user.is_lead:
    with (
        st.expander("Priority (leads and admins)"),
        st.form(f"review_priority_form_{video_id}", enter_to_submit=False),
    ):
        levels = [p.label for p in ReviewPriority]
        level_col, reason_col = st.columns([1, 3])
        level_col.selectbox(
            "Priority",
            levels,
            index=levels.index(priority_name(video.priority)),
            key=f"review_priority_level_{video_id}",
            help="Review next serves urgent videos first, then high ones, the longest waiting "
            "first among equals, before the queue's learning order.",
        )
        reason_col.text_input(
            "Why (shown to moderators)",
            value=video.priority_reason or "",
            key=f"review_priority_reason_{video_id}",
            max_chars=PRIORITY_REASON_MAX_CHARS,
        )
        st.form_submit_button("Set priority", on_click=_set_priority, args=(video_id,))

if user.role == Role.ADMIN:
    with (
        st.expander("Remove this video for good (admins)"),
        st.form(f"review_remove_form_{video_id}", enter_to_submit=False),
    ):
        st.text_input(
            "Why (a takedown, the uploader deleted it, an erasure request): audited",
            key=f"review_remove_reason_{video_id}",
            max_chars=MAX_REASON,
        )
        st.checkbox(
            "Remove the video, its labels, predictions and media. This cannot be undone.",
            key=f"review_remove_sure_{video_id}",
        )
        st.form_submit_button("Remove", on_click=_remove, args=(video_id,))

if not read_only:
    _prepare_next(video_id)
