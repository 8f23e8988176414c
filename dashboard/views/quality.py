"""Label quality (leads and admins): agreement on overlap videos, disputed answers side by side
with the final labels set here, and (admins) the overlap setting and the retraining policy."""

from __future__ import annotations

import streamlit as st

from core.config import get_settings
from core.errors import TaggerError
from dashboard import actions, cache, state
from dashboard.components import md_escape, require_taxonomy
from dashboard.quality import render_agreement

db = cache.database()
user = state.user()
tax = cache.taxonomy()
st.title("Label quality")
tax = require_taxonomy(tax)

if user.is_admin:
    st.subheader("Overlap")
    current = actions.get_overlap(db)
    with st.form("quality_overlap"):
        share = st.slider(
            "Share of unreviewed videos reviewed by several moderators (blind)",
            0,
            100,
            round(current.share * 100),
            key="quality_share",
        )
        moderators = st.number_input(
            "Moderators per overlap video", 2, 5, current.moderators, key="quality_moderators"
        )
        if st.form_submit_button("Save overlap setting"):
            actions.run_admin(
                lambda: actions.set_overlap(db, share=share / 100, moderators=int(moderators)),
                success=f"Overlap: {share} % of videos, {int(moderators)} moderators each",
            )

    st.subheader("Retraining")
    policy_state = actions.retrain_policy_state(db)
    policy = policy_state.policy
    with st.form("quality_retrain"):
        modes = ["on_demand", "schedule", "after_labels"]
        mode = st.radio(
            "Retrain",
            modes,
            index=modes.index(policy.mode),
            format_func=lambda m: {
                "on_demand": "on demand only",
                "schedule": "on a schedule",
                "after_labels": "after N new reviews",
            }[m],
            horizontal=True,
            key="quality_retrain_mode",
        )
        cols = st.columns(3)
        every_hours = cols[0].number_input(
            "Every (hours)", 1.0, 24.0 * 30, float(policy.every_hours), key="quality_every"
        )
        after_labels = cols[1].number_input(
            "After (reviews)", 1, 1_000_000, policy.after_labels, key="quality_after"
        )
        min_gain = cols[2].number_input(
            "Go live when held-out AU(PRC) gain is at least",
            -1.0,
            1.0,
            float(policy.min_gain),
            step=0.005,
            format="%.3f",
            key="quality_min_gain",
        )
        poll_s = get_settings().retrain_poll_s
        checks = (
            f"The server checks the policy every {poll_s:g} s and retrains in the background "
            "(progress on the Models page)"
            if poll_s > 0
            else "The server does not check it (`TAGGER_RETRAIN_POLL_S=0`): run "
            "`tagger retrain-if-due` from a timer"
        )
        st.caption(
            f"{policy_state.next_run()} {checks}; a new version goes live by the gain rule above, "
            "else it waits for an admin."
        )
        if (last_run := policy_state.last_run()) is not None:
            st.caption(md_escape(last_run))
        if st.form_submit_button("Save retraining policy"):
            actions.run_admin(
                lambda: actions.set_retrain_policy(
                    db,
                    mode=mode,
                    every_hours=float(every_hours),
                    after_labels=int(after_labels),
                    min_gain=float(min_gain),
                ),
                success=f"Retraining: {mode}",
            )

st.subheader("Agreement")
render_agreement(actions.agreement_report(db), key="quality_agreement")

st.subheader("Overlap videos")
progress = actions.overlap_progress(db)
waiting, disputed, settled = st.columns(3)
waiting.metric("Waiting for more answers", f"{progress.waiting:,}")
disputed.metric("Answers differ: a lead decides", f"{progress.disputed:,}")
settled.metric("Final labels (agreed or decided)", f"{progress.settled:,}")

st.subheader("Disputed overlap videos")
disputes = actions.list_disputes(db)
if not disputes:
    st.caption("Nothing to adjudicate.")
    st.stop()
for dispute in disputes:
    with st.container(border=True):
        st.markdown(f"**#{dispute.video_id} · {md_escape(dispute.title)}**")
        cols = st.columns(len(dispute.answers))
        for col, (username, node_ids) in zip(cols, dispute.answers.items()):
            col.caption(md_escape(username))
            col.markdown("\n".join(f"- {md_escape(tax.path(n))}" for n in node_ids) or "(no tags)")
        agreed = sorted(set.intersection(*(set(a) for a in dispute.answers.values())))
        final = st.multiselect(
            "Final labels",
            tax.options,
            default=agreed,
            format_func=tax.path,
            key=f"quality_final_{dispute.video_id}",
        )
        if st.button("Set final labels", key=f"quality_set_{dispute.video_id}"):
            try:
                actions.adjudicate(
                    db,
                    video_id=dispute.video_id,
                    expected_version=dispute.version,
                    node_ids=final,
                )
            except TaggerError as e:
                st.error(str(e))
            else:
                st.success(f"Final labels saved for video {dispute.video_id}")
                st.rerun()
