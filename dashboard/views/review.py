"""Review one video: watch it, read its transcript, accept/reject the model's tags, add others, save.

The page claims the video while it is open (others see it "in review"), remembers the version
it first read, and saves against that version: if someone else saved meanwhile, the save is
refused, the moderator's selection stays in the form, and they choose what to do.
"""

from __future__ import annotations

import streamlit as st

from core.config import get_settings
from dashboard import actions, cache, state
from dashboard.components import (
    md_escape,
    probability_chart,
    render_ingest_details,
    render_tag_tree,
    timecode,
    webvtt,
)
from dashboard.review_data import load_review
from db.queries import NotFoundError, StaleVersionError
from db.queries.review import VideoClaimedError

SEEK = "review_seek"
CONFLICT = "review_conflict"
MAX_TRANSCRIPT_LINES = 400

db = cache.database()
settings = get_settings()
tax = cache.taxonomy()
user = state.user()


def _open_next() -> None:
    """Claim the next video of the queue (with the queue page's filters) and show it."""
    video = actions.claim_next(
        db,
        filters=st.session_state.get(state.QUEUE_FILTERS),
        exclude_ids=st.session_state[state.SKIPPED],
    )
    st.session_state[state.REVIEW_VIDEO] = video.id if video is not None else None
    st.session_state.pop(SEEK, None)
    st.session_state.pop(CONFLICT, None)
    if video is None:
        st.session_state[state.FLASH] = "The queue is empty for your filters."


def _seek(seconds: float) -> None:
    st.session_state[SEEK] = seconds


st.title("Review")
notice = st.session_state.pop(state.FLASH, None)
if notice:
    st.success(md_escape(notice))
if tax is None:
    st.warning("No taxonomy yet: an admin imports one on the Taxonomy page (or `tagger init`).")
    st.stop()

video_id = st.session_state.get(state.REVIEW_VIDEO)
if video_id is None:
    st.info("No video is open. Take the next one from the queue.")
    if st.button("▶ Review next", type="primary", key="review_next_empty"):
        _open_next()
        st.rerun()
    st.stop()

try:
    data = load_review(db, video_id=video_id, user=user, settings=settings, tax=tax)
except NotFoundError:
    st.session_state[state.REVIEW_VIDEO] = None
    st.error(f"Video {video_id} no longer exists.")
    st.stop()

video = data.video
read_only = False
if not data.claim.held:
    try:
        actions.claim_video(db, video_id=video_id)
    except VideoClaimedError as e:
        read_only = True
        st.warning(f"Read only: {md_escape(str(e))}")
baselines: dict[int, state.Baseline] = st.session_state[state.BASELINES]
if video_id not in baselines:
    baselines[video_id] = state.Baseline(
        version=video.version,
        labels=tuple(data.current_labels),
        candidates=tuple(
            dict.fromkeys([*data.current_labels, *(t.node_id for t in data.suggested)])
        ),
    )
baseline = baselines[video_id]

# --- header ------------------------------------------------------------------------------------
st.subheader(md_escape(video.title or f"Video {video_id}"))
facts = [f"#{video_id}", video.status]
if video.duration_s:
    facts.append(timecode(video.duration_s))
if video.flagged:
    facts.append(f"flagged: {video.flag_reason or 'no reason given'}")
if data.model_version_id is not None:
    facts.append(f"model v{data.model_version_id}")
st.caption(md_escape(" · ".join(facts)))

left, right = st.columns([3, 2], gap="large")
with left:
    if data.media_path is not None:
        st.video(
            str(data.media_path),
            start_time=int(st.session_state.get(SEEK, 0)),
            subtitles=webvtt(data.segments).encode() if data.segments else None,
        )
    else:
        st.warning("The video file is not available on this server.")
    if data.keyframes:
        st.markdown("**Keyframes**")
        strip = st.columns(min(len(data.keyframes), 8))
        for i, frame in enumerate(data.keyframes[:16]):
            with strip[i % len(strip)]:
                if frame.path.is_file():
                    st.image(str(frame.path), width="stretch")
                st.button(
                    f"▶ {timecode(frame.timestamp_s)}",
                    key=f"review_kf_{video_id}_{i}",
                    on_click=_seek,
                    args=(frame.timestamp_s,),
                    width="stretch",
                )
    render_ingest_details(data.modality_notes, data.onscreen)
    st.markdown(f"**Transcript** ({md_escape(data.transcript_source or 'none')})")
    with st.container(height=260):
        if not data.segments:
            st.caption("No speech or subtitles.")
        for i, segment in enumerate(data.segments[:MAX_TRANSCRIPT_LINES]):
            st.button(
                f"{timecode(segment['start'])}  {md_escape(segment['text'])}",
                key=f"review_seg_{video_id}_{i}",
                on_click=_seek,
                args=(segment["start"],),
                type="tertiary",
            )

with right:
    st.markdown("**Description**")
    st.text(video.description or "(none)")
    if data.tags:
        st.markdown("**Model prediction**")
        st.altair_chart(probability_chart(data.tags), width="stretch")
        with st.expander("Full tag tree", expanded=False):
            render_tag_tree(data.tags)
    else:
        st.info("No prediction yet for this video.")

# --- decision form -----------------------------------------------------------------------------
st.divider()
conflict = st.session_state.get(CONFLICT)
if conflict and conflict["video_id"] == video_id:
    st.error(
        "Someone else changed this video while you were working on it (a saved review or a send-back), "
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
    accepted = []
    for node in baseline.candidates:
        p = probabilities.get(node)
        origin = f"model {p:.2f}" if p is not None else "no model score"
        if st.checkbox(
            f"{md_escape(tax.path(node))}  ({origin})",
            value=node in baseline.labels,
            key=f"review_acc_{video_id}_{node}",
        ):
            accepted.append(node)
    added = st.multiselect(
        "Add tags (type a few letters of any tag)",
        [n for n in tax.options if n not in baseline.candidates],
        format_func=tax.path,
        key=f"review_add_{video_id}",
        placeholder="search the taxonomy",
        select_all=False,
    )
    buttons = st.columns(3)
    save = buttons[0].form_submit_button(
        "Save & next", type="primary", disabled=read_only, width="stretch"
    )
    skip = buttons[1].form_submit_button("Skip", disabled=read_only, width="stretch")
# a separate form, so Enter in the reason flags instead of saving
with st.form(f"review_flag_form_{video_id}", enter_to_submit=True):
    reason_col, flag_col = st.columns([2, 1], vertical_alignment="bottom")
    flag_reason = reason_col.text_input(
        "Flag for attention: reason", key=f"review_flag_reason_{video_id}"
    )
    flag = flag_col.form_submit_button("Flag", disabled=read_only, width="stretch")

if save:
    try:
        actions.save_review(
            db, video_id=video_id, expected_version=baseline.version, node_ids=[*accepted, *added]
        )
    except StaleVersionError:
        st.session_state[CONFLICT] = {"video_id": video_id}
        st.rerun()
    baselines.pop(video_id, None)
    _open_next()
    st.session_state[state.FLASH] = st.session_state.get(state.FLASH) or f"Saved video {video_id}."
    st.rerun()
if skip:
    actions.release(db, video_id=video_id, skipped=True)
    st.session_state[state.SKIPPED].append(video_id)
    baselines.pop(video_id, None)
    _open_next()
    st.rerun()
if flag:
    actions.flag(db, video_id=video_id, reason=flag_reason)
    actions.release(db, video_id=video_id, skipped=True)
    st.session_state[state.SKIPPED].append(video_id)
    baselines.pop(video_id, None)
    _open_next()
    st.rerun()
