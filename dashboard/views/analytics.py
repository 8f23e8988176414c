"""Analytics: label distribution over the taxonomy (tier 1, then drill down), moderator
throughput, how long high and urgent videos waited for their review, where the active model and
the moderators disagree, and likely label errors that an admin can send back for a second
review."""

from __future__ import annotations

from datetime import timedelta

import altair as alt
import pandas as pd
import streamlit as st

from core.review import priority_name
from dashboard import actions, cache, state
from dashboard.components import count_axis, duration, require_taxonomy
from dashboard.quality import render_agreement
from db.tables import utcnow

db = cache.database()
user = state.user()
tax = cache.taxonomy()
st.title("Analytics")
tax = require_taxonomy(tax)

# --- label distribution ------------------------------------------------------------------------
st.subheader("Label distribution")
cols = st.columns([2, 3])
source = cols[0].radio(
    "Labels",
    [None, "human", "import"],
    format_func=lambda s: {None: "all", "human": "reviews", "import": "imported"}[s],
    horizontal=True,
    key="analytics_source",
)
tier1 = [n.id for n in tax.taxonomy.children(None)]
parent = cols[1].selectbox(
    "Drill down into",
    [None, *tier1],
    format_func=lambda n: "tier 1 (all)" if n is None else tax.path(n),
    key="analytics_parent",
)
counts = cache.label_distribution(db.url, parent, source)
frame = pd.DataFrame({"tag": [c.name for c in counts], "videos": [c.n_videos for c in counts]})
if not frame.empty and frame["videos"].sum() > 0:
    st.altair_chart(
        alt.Chart(frame[frame.videos > 0])
        .mark_bar()
        .encode(
            x=alt.X("videos:Q", axis=count_axis("videos")),
            y=alt.Y("tag:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
            tooltip=["tag", "videos"],
        ),
        width="stretch",
    )
else:
    st.caption("No labels here yet.")

# --- throughput ----------------------------------------------------------------------------------
st.subheader("Moderator throughput")
days = st.select_slider("Period (days)", [7, 14, 30, 90], value=30, key="analytics_days")
since = (utcnow() - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
throughput = cache.throughput(db.url, since)
if throughput:
    tp = pd.DataFrame(
        [{"day": r.day, "moderator": r.username, "reviews": r.n_reviews} for r in throughput]
    )
    st.altair_chart(
        alt.Chart(tp)
        .mark_bar()
        .encode(
            x="day:T",
            y=alt.Y("reviews:Q", axis=count_axis("reviews")),
            color="moderator:N",
            tooltip=["day", "moderator", "reviews"],
        ),
        width="stretch",
    )
else:
    st.caption("No reviews saved in this period.")

st.markdown("**High and urgent videos: from raised to reviewed** (same period)")
turnaround = cache.priority_turnaround(db.url, since)
waiting = cache.priority_backlog(db.url)
st.dataframe(
    pd.DataFrame(
        {
            "priority": [priority_name(t.priority) for t in turnaround],
            "reviewed": [t.reviewed for t in turnaround],
            "median wait": [duration(t.median_s) for t in turnaround],
            "90 % within": [duration(t.p90_s) for t in turnaround],
            "target": [duration(t.target_s) for t in turnaround],
            "within target": [
                f"{t.within_target / t.reviewed:.0%} ({t.within_target:,})" if t.reviewed else "–"
                for t in turnaround
            ],
            "waiting now": [waiting[t.priority].videos for t in turnaround],
        }
    ),
    hide_index=True,
    key="analytics_turnaround",
)

# --- agreement on overlap videos (label quality; leads and admins) -----------------------------
if user.is_lead:
    st.subheader("Moderator agreement (overlap videos)")
    render_agreement(actions.agreement_report(db), key="analytics_agreement")

# --- model vs human ------------------------------------------------------------------------------
versions = cache.model_versions(db.url)
active = next((v for v in versions if v.is_active), None)
st.subheader("Model vs moderators")
if active is None:
    st.caption("No active model.")
    st.stop()
st.caption(f"Active model v{active.id}, on reviewed videos it predicted (tags closed upward).")
disagreements = cache.disagreement(db.url, active.id)
if disagreements:
    dis = pd.DataFrame(
        [
            {
                "tag": d.path,
                "agree": d.n_both,
                "model only": d.n_model_only,
                "moderators only": d.n_human_only,
                "F1": d.f1,
            }
            for d in disagreements
        ]
    )
    st.dataframe(
        dis,
        hide_index=True,
        key="analytics_disagreement",
        column_config={
            "F1": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.2f")
        },
    )
else:
    st.caption("No disagreement on reviewed videos.")

st.subheader("Likely label errors")
confidence = st.slider("Model confidence at least", 0.8, 0.99, 0.9, 0.01, key="analytics_conf")
suspects = cache.label_suspects(db.url, active.id, confidence)
if not suspects:
    st.caption("None: the model does not confidently contradict any review.")
    st.stop()
sus = pd.DataFrame(
    [
        {
            "video": s.video_id,
            "title": s.title,
            "tag": s.path,
            "issue": "model says missing" if s.kind == "missing" else "model doubts this tag",
            "p(model)": s.probability,
        }
        for s in suspects
    ]
)
st.dataframe(sus, hide_index=True, key="analytics_suspects")
if user.is_admin:
    with st.form("analytics_send_back"):
        chosen = st.multiselect(
            "Videos to send back for a second review",
            sorted({s.video_id for s in suspects}),
            format_func=lambda v: f"#{v} · {next(s.title for s in suspects if s.video_id == v)}",
            key="analytics_send_ids",
        )
        reason = st.text_input(
            "Reason", value="model disagrees confidently", key="analytics_send_reason"
        )
        if st.form_submit_button("Send back for second review"):
            actions.run_admin(
                lambda: actions.send_back(db, video_ids=chosen, reason=reason),
                success=f"Sent {len(chosen)} video(s) back to the queue",
            )
