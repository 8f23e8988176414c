"""Models: versions with their metrics beside the active one, metric history charts, and (admin)
retrain in the background, promote, roll back, re-predict the queue with a chosen version.

The training job's progress and live loss/AP curves, and the prediction job's step (predicting,
then ranking the review queue), are polled from their Job rows by fragments that rerun on their
own every few seconds, so the page and other sessions stay responsive.
"""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from core.errors import TaggerError
from core.lifecycle.queue_ranking import SERVER
from core.lifecycle.retrain_policy import WAITS
from dashboard import actions, cache, state
from dashboard.components import md_escape, metric_history_chart
from db.tables import JobStatus, ModelStatus

POLL_S = 2
SEEN_JOB = "models_seen_job"  # the finished job whose outcome the versions table already shows
HEADLINE = ("micro_auprc", "hierarchical_f1", "hierarchical_precision", "hierarchical_recall")

db = cache.database()
user = state.user()
st.title("Models")

versions = cache.model_versions(db.url)
active = next((v for v in versions if v.is_active), None)


def _metrics(version) -> dict:
    return json.loads(version.metrics_json or "{}")


@st.fragment(run_every=POLL_S)
def training_status() -> None:
    """Latest training job: progress bar, message and live curves; re-run every POLL_S s."""
    recent = cache.recent_jobs(db, kind="train", limit=1)
    if not recent:
        st.caption(
            "No retrain has run from the dashboard or the retraining policy yet"
            + ("; the versions below were trained from the command line." if versions else ".")
        )
        return
    job = recent[0]
    st.progress(
        min(max(job.progress, 0.0), 1.0),
        text=md_escape(f"Training job {job.id}: {job.status} — {job.message}"),
    )
    if "policy" in job.params:
        st.caption(md_escape(f"Started by the retraining policy: {job.params['policy']}."))
    if "policy" in job.result:
        st.info(md_escape(job.result["policy"]))
    history = pd.DataFrame(job.metrics.get("history", []))
    if not history.empty and {"epoch", "train_loss"} <= set(history.columns):
        history["step"] = range(1, len(history) + 1)
        long = history.melt(
            id_vars=["step"], value_vars=[c for c in ("train_loss", "valid_ap") if c in history]
        )
        st.altair_chart(
            alt.Chart(long)
            .mark_line()
            .encode(x="step:Q", y="value:Q", color="variable:N")
            .properties(height=180),
            width="stretch",
        )
    seen = st.session_state.setdefault(SEEN_JOB, job.id if job.finished else None)
    if job.finished and seen != job.id:
        st.session_state[SEEN_JOB] = job.id
        cache.clear_data()
        st.rerun(scope="app")  # show the new version in the table, or the one that failed
    if job.status == JobStatus.FAILED:
        st.error(md_escape(f"Training failed: {job.message}"))


training_status()


@st.fragment(run_every=POLL_S)
def prediction_status() -> None:
    """Latest prediction job (or the server's rank job), step by step: predicting, then ranking
    the review queue, which runs for minutes on a large pool and is part of the job (nothing
    shown before the first)."""
    job = cache.latest_ranking_job(db)
    if job is None:
        return
    what = "Prediction" if job.kind == "predict" else "Ranking"
    st.progress(
        min(max(job.progress, 0.0), 1.0),
        text=md_escape(f"{what} job {job.id}: {job.status} — {job.message}"),
    )
    if "reason" in job.params:
        by = job.params.get("started_by", SERVER)  # rank jobs from before it was recorded
        st.caption(md_escape(f"Started by {by}: {job.params['reason']}."))
    if job.status == JobStatus.FAILED:
        st.error(md_escape(f"{what} failed: {job.message}"))


prediction_status()

waiting = next((v for v in versions if v.status == ModelStatus.READY), None)
if (
    user.is_admin
    and waiting is not None
    and not waiting.is_active
    and (waiting.notes or "").startswith(WAITS)
    and (active is None or waiting.id > active.id)
):  # the retraining policy held its newest version back: the decision is the admin's
    with st.container(border=True):
        st.warning(md_escape(f"v{waiting.id} {waiting.notes}"))
        if st.button(
            f"Promote v{waiting.id} and predict the queue with it", key="models_promote_waiting"
        ):
            actions.run_admin(
                lambda: actions.promote_and_predict(db, version_id=waiting.id),
                success=f"v{waiting.id} is now active; prediction job started",
            )
        st.caption("Or keep the active version: the next retrain brings a new candidate.")

if user.is_admin:
    with st.container(border=True):
        st.markdown("**Admin actions**")
        cols = st.columns(3)
        activate = cols[0].checkbox("Activate when trained", key="models_activate")
        if cols[0].button("Retrain now", type="primary", key="models_retrain"):
            try:
                job_id = actions.start_training(db, activate=activate)
            except TaggerError as e:
                st.error(md_escape(str(e)))
            else:
                st.toast(f"Training job {job_id} started")
                st.rerun()
        ready = [v.id for v in versions if v.status == ModelStatus.READY]
        chosen = cols[1].selectbox(
            "Version", ready, key="models_version", format_func=lambda v: f"v{v}"
        )
        if cols[1].button(
            "Promote",
            key="models_promote",
            disabled=chosen is None or (active and chosen == active.id),
        ):
            actions.run_admin(
                lambda: actions.promote(db, version_id=chosen), success=f"v{chosen} is now active"
            )
        if cols[1].button(
            "Re-predict queue with this version", key="models_repredict", disabled=chosen is None
        ):
            actions.run_admin(
                lambda: actions.repredict(db, version_id=chosen), success="Prediction job started"
            )
        if cols[2].button("Roll back", key="models_rollback", disabled=active is None):
            actions.run_admin(lambda: actions.rollback(db), success="Rolled back")

if not versions:
    st.info("No model yet. An admin can train one once videos are labelled and ingested.")
    st.stop()

base = _metrics(active) if active else {}
rows = []
for v in versions:
    m = _metrics(v)
    row = {
        "version": f"v{v.id}",
        "active": "★" if v.is_active else "",
        "status": v.status,
        "created": v.created_at,
        "train/valid": f"{v.n_train}/{v.n_valid}",
        "notes": v.notes,
        # the probability under which it predicts no tag (versions before it: none)
        "decision floor": m.get("threshold_floor"),
    }
    for key in HEADLINE:
        value = m.get(key)
        row[key] = value
        if (
            active is not None
            and not v.is_active
            and isinstance(value, int | float)
            and isinstance(base.get(key), int | float)
        ):
            row[f"Δ {key}"] = value - base[key]
    rows.append(row)
st.subheader("Versions")
st.dataframe(pd.DataFrame(rows), hide_index=True, key="models_table")

history = []
for v in sorted(versions, key=lambda v: v.id):
    for key, value in _metrics(v).items():
        if isinstance(value, int | float) and (key.startswith("f1_level_") or key in HEADLINE):
            history.append({"version": v.id, "metric": key, "value": value})
frame = pd.DataFrame(history, columns=["version", "metric", "value"])
if not frame.empty:
    left, right = st.columns(2)
    left.altair_chart(
        metric_history_chart(frame[frame.metric.str.startswith("f1_level_")], title="F1 per level"),
        width="stretch",
    )
    right.altair_chart(
        metric_history_chart(
            frame[frame.metric.isin(["micro_auprc", "hierarchical_f1"])],
            title="AU(PRC) and hierarchical F1",
        ),
        width="stretch",
    )
