"""Label quality (leads and admins): agreement on overlap videos, disputed answers side by side
with the final labels set here, and (admins) the overlap setting."""

from __future__ import annotations

import streamlit as st

from dashboard import actions, cache, state
from dashboard.components import md_escape
from dashboard.quality import render_agreement
from db.engine import DatabaseError

db = cache.database()
user = state.user()
tax = cache.taxonomy()
st.title("Label quality")
if tax is None:
    st.warning("No taxonomy yet.")
    st.stop()

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

st.subheader("Agreement")
render_agreement(actions.agreement_report(db), key="quality_agreement")

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
            except DatabaseError as e:
                st.error(str(e))
            else:
                st.success(f"Final labels saved for video {dispute.video_id}")
                st.rerun()
