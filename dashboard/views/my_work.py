"""My work (every signed-in account, its own rows only): saved reviews per day, accuracy as the
leads' verdicts and the overlap's final labels see it, and the newest verdicts with the lead's
comment and labels, so a moderator learns from the corrections."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import actions, cache
from dashboard.components import count_axis, md_escape
from db.tables import LeadVerdict

WEEK = 7
VERDICT_LABELS = {
    LeadVerdict.ACCEPTED: ":green[accepted]",
    LeadVerdict.FIXED: ":orange[fixed]",
    LeadVerdict.REJECTED: ":red[rejected: sent back to you]",
}

db = cache.database()
tax = cache.taxonomy()
st.title("My work")
work = actions.own_work(db)


def _paths(node_ids: list[str], *, none: str = "no tags") -> str:
    return ", ".join(sorted(tax.path(n) if tax else n for n in node_ids)) or none


per_day = work.reviews_per_day
today, week = per_day[-1][1], sum(n for _, n in per_day[-WEEK:])
accuracy = work.accuracy
columns = st.columns(4)
columns[0].metric("Reviews today (UTC)", f"{today:,}")
columns[1].metric(f"Last {WEEK} days", f"{week:,}")
columns[2].metric(
    "Accepted as they were",
    f"{accuracy.accepted} of {accuracy.judged}" if accuracy and accuracy.judged else "–",
    help="Of your reviews a lead judged (Lead review), those accepted without a change.",
)
columns[3].metric(
    "Label F1 vs final",
    f"{accuracy.label_f1:.2f}" if accuracy and accuracy.label_f1 is not None else "–",
    help="Your labels against the final ones: a lead's for reviews accepted or fixed, the "
    "agreed or adjudicated labels for overlap videos you answered blind. 1.00: the same tags.",
)
if any(n for _, n in per_day):
    st.altair_chart(
        alt.Chart(
            pd.DataFrame(
                {"day": [d.isoformat() for d, _ in per_day], "reviews": [n for _, n in per_day]}
            )
        )
        .mark_bar()
        .encode(
            x=alt.X("day:O", title="UTC day"),
            y=alt.Y("reviews:Q", axis=count_axis("saved reviews")),
            tooltip=["day", "reviews"],
        )
        .properties(height=220),
        width="stretch",
    )
else:
    st.caption(f"No reviews saved in the last {len(per_day)} days.")

st.subheader("What leads said about your reviews")
if not work.feedback:
    st.caption("No lead has judged one of your reviews yet.")
for item in work.feedback:
    with st.container(border=True):
        st.markdown(
            f"**#{item.video_id}** {md_escape(item.title)} · "
            f"{VERDICT_LABELS.get(item.verdict, item.verdict)} by {md_escape(item.lead)}, "
            f"{item.at:%Y-%m-%d %H:%M} UTC"
        )
        if item.comment:
            st.markdown(f"> {md_escape(item.comment)}")
        yours, final = set(item.yours), set(item.final)
        st.caption(f"Your tags: {md_escape(_paths(item.yours))}")
        if item.verdict == LeadVerdict.FIXED:
            st.caption(
                f"The lead added: {md_escape(_paths(sorted(final - yours), none='nothing'))} · "
                f"removed: {md_escape(_paths(sorted(yours - final), none='nothing'))}"
            )
