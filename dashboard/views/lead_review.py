"""Lead review (leads and admins): judge a sample of moderators' reviews - accept, fix and
accept, or reject with a comment that sends the video back to its moderator - and see each
moderator's accuracy."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import TaggerError
from dashboard import actions, cache
from dashboard.components import md_escape, require_taxonomy

db = cache.database()
tax = cache.taxonomy()
st.title("Lead review")
tax = require_taxonomy(tax)

st.subheader("Moderator accuracy")
accuracy = actions.moderator_accuracy(db)
if accuracy:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "moderator": a.username,
                    "judged": a.judged,
                    "accepted": a.accepted,
                    "fixed": a.fixed,
                    "rejected": a.rejected,
                    "label F1 vs final": a.label_f1,
                    "compared": a.compared,
                }
                for a in accuracy
            ]
        ),
        hide_index=True,
        key="lead_accuracy",
    )
else:
    st.caption("No verdicts or adjudicated overlap answers yet.")

st.subheader("Sample")
cols = st.columns(2)
mode = cols[0].radio(
    "Which reviews",
    ["random", "disagree"],
    format_func=lambda m: {"random": "random", "disagree": "model strongly disagrees"}[m],
    horizontal=True,
    key="lead_mode",
)
n = cols[1].number_input("How many", 1, 50, 10, key="lead_n")
waiting = {user_id: (name, count) for user_id, name, count in actions.unjudged_by_moderator(db)}
moderator = st.selectbox(
    "Whose reviews",
    [None, *waiting],
    format_func=lambda u: (
        f"anyone's ({sum(c for _, c in waiting.values()):,} unjudged)"
        if u is None
        else f"{waiting[u][0]} ({waiting[u][1]:,} unjudged)"
    ),
    key="lead_moderator",
)
try:
    samples = actions.lead_sample(db, mode=mode, n=int(n), moderator_id=moderator)
except ValueError as e:
    st.info(str(e))
    st.stop()
if not samples:
    st.caption("No unjudged moderator review matches.")
    st.stop()
for item in samples:
    with st.container(border=True):
        st.markdown(
            f"**#{item.video_id} · {md_escape(item.title)}** · reviewed by "
            f"{md_escape(item.moderator)} · {md_escape(item.reason)}"
        )
        final = st.multiselect(
            "Labels",
            tax.options,
            default=item.node_ids,
            format_func=tax.path,
            key=f"lead_labels_{item.video_id}",
        )
        comment = st.text_input("Comment", key=f"lead_comment_{item.video_id}")
        buttons = st.columns(3)
        verdict = None
        if buttons[0].button("Accept", key=f"lead_accept_{item.video_id}"):
            verdict = "fixed" if sorted(final) != sorted(item.node_ids) else "accepted"
        if buttons[1].button("Fix and accept", key=f"lead_fix_{item.video_id}"):
            verdict = "fixed"
        if buttons[2].button("Reject", key=f"lead_reject_{item.video_id}"):
            verdict = "rejected"
        if verdict is not None:
            try:
                actions.lead_verdict(
                    db,
                    video_id=item.video_id,
                    verdict=verdict,
                    expected_version=item.version,
                    node_ids=final,
                    comment=comment,
                )
            except (TaggerError, ValueError) as e:
                st.error(md_escape(str(e)))
            else:
                st.toast(f"Video {item.video_id}: {verdict}")
                st.rerun()
