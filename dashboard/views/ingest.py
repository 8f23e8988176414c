"""Ingest: upload one video (any moderator) or, as an admin, ingest server folders, dataset CSVs or
object-storage URIs in the background. Failures are listed with the reason stored on each
video."""

from __future__ import annotations

import streamlit as st

from core.config import get_settings
from core.errors import TaggerError
from core.ingest.formats import VIDEO_EXTENSIONS
from dashboard import actions, cache, readers, state
from dashboard.components import md_escape
from db.tables import VideoStatus

POLL_S = 2
LAST = "ingest_last_video"

db = cache.database()
settings = get_settings()
user = state.user()
st.title("Ingest")

st.subheader("Upload a video")
with st.form("ingest_upload", clear_on_submit=True):
    uploaded = st.file_uploader(
        f"Video file (up to {settings.max_upload_mb} MB)",
        type=sorted(extension.lstrip(".") for extension in VIDEO_EXTENSIONS),
        max_upload_size=settings.max_upload_mb,
        key="ingest_file",
    )
    title = st.text_input("Title", key="ingest_title")
    description = st.text_area("Description", key="ingest_description")
    submitted = st.form_submit_button("Upload and process", type="primary")
if submitted:
    if uploaded is None:
        st.error("Choose a video file first.")
    else:
        with st.status(
            "Processing the upload (keyframes, audio, transcript, embeddings)…", expanded=True
        ) as box:
            try:
                result = actions.upload(
                    db,
                    data=uploaded.getvalue(),
                    filename=uploaded.name,
                    title=title,
                    description=description,
                )
            except TaggerError as e:  # e.g. core.ingest.batch.UploadRejected
                box.update(label="Upload rejected", state="error")
                st.error(md_escape(str(e)))
            else:
                if result.status == VideoStatus.FAILED:
                    box.update(label="Processing failed", state="error")
                    st.error(md_escape(f"{result.name}: {result.reason}"))
                else:
                    box.update(label="Done", state="complete")
                    st.success(md_escape(f"Video {result.video_id}: {result.status}"))
                    st.session_state[LAST] = result.video_id
if st.session_state.get(LAST) is not None and st.button(
    f"Review video {st.session_state[LAST]} now", key="ingest_review_it"
):
    st.session_state[state.REVIEW_VIDEO] = st.session_state.pop(LAST)
    st.switch_page("views/review.py")

if user.is_admin:
    st.subheader("Ingest server folders, dataset CSVs or object storage (admin)")
    with st.form("ingest_paths"):
        paths = st.text_area(
            "One path or URI per line: folders, video files, dataset CSVs on the server, or "
            "s3://BUCKET/PREFIX/ (every object below it), s3://BUCKET/KEY.mp4 (one object); add "
            "?endpoint_override=HOST:PORT&scheme=http for an S3-compatible server",
            key="ingest_paths_text",
        )
        if st.form_submit_button("Start ingest job"):
            wanted = [p.strip() for p in paths.splitlines() if p.strip()]
            actions.run_admin(
                lambda: actions.ingest_paths(db, paths=wanted), success="Ingest job started"
            )


@st.fragment(run_every=POLL_S)
def ingest_jobs() -> None:
    """Recent ingest jobs with live progress; failures listed from the result."""
    recent = cache.recent_jobs(db, kind="ingest", limit=3)
    if not recent:
        return
    st.subheader("Ingest jobs")
    for job in recent:
        st.progress(
            min(max(job.progress, 0.0), 1.0),
            text=md_escape(f"Job {job.id}: {job.status} — {job.message}"),
        )
        if job.finished and job.result:
            totals = ", ".join(f"{k}: {v}" for k, v in job.result.get("totals", {}).items())
            caption = f"{totals}; predicted {job.result.get('predicted', 0)}"
            if ranked := job.result.get("ranked_by_coverage"):
                caption += (
                    f"; no model yet: the queue opens with {ranked} videos that cover the pool"
                )
            st.caption(md_escape(caption))


ingest_jobs()

st.subheader("Failed videos")
failed = readers.failed_videos(db, limit=50)
if failed.rows:
    st.dataframe(
        [
            {"id": r.video_id, "title": r.title, "reason": r.error, "when": r.created_at}
            for r in failed.rows
        ],
        hide_index=True,
        key="ingest_failed",
    )
else:
    st.caption("No failures.")
