"""Queue: every video with its state, filterable and sortable (high and urgent videos first, the
longest waiting first, then most informative first: the order of core/lifecycle/review_order.py,
coverage of the topics while the model is new, then BADGE), paginated; a banner counts the high
and urgent videos waiting and says how long the longest has.

"Review next" claims the next matching video atomically and opens the review page. While a
prediction or ranking job re-ranks the queue (minutes on a large pool) the page says so, and shows
the new order as soon as the job has finished; under the sort box it says when the order was chosen
and how many videos arrived since (core/lifecycle/queue_ranking.py ranks them).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from core.lifecycle import liveness
from core.lifecycle.coverage import ColdStart
from core.review import MAX_REVIEW_TARGET_MINUTES, priority_name, target_minutes
from dashboard import actions, cache, readers, state
from dashboard.components import duration, md_escape
from db.queries.review import IN_REVIEW, QueueFilters, QueueRow, VideoClaimedError
from db.tables import ReviewPriority, VideoStatus, utcnow

STATE_LABELS = {
    VideoStatus.NEW.value: "new",
    VideoStatus.PROCESSING.value: "processing",
    VideoStatus.READY.value: "ready (no prediction)",
    VideoStatus.PREDICTED.value: "predicted",
    IN_REVIEW: "in review",
    VideoStatus.REVIEWED.value: "reviewed",
    VideoStatus.FAILED.value: "failed",
}
SORT_LABELS = {
    "review_rank": "Most informative first",
    "uncertainty": "Least certain first",
    "newest": "Newest",
    "oldest": "Oldest",
    "title": "Title",
}
PAGE_SIZES = (25, 50, 100)
POLL_S = 2
RANKING_JOB = "queue_ranking_job"  # the prediction or ranking job this page saw running


def _waited(since: datetime, level: int, targets: dict[ReviewPriority, float]) -> tuple[str, bool]:
    """How long ago a priority was raised (``since``), in words, and whether that is past the
    team's target for its ``level``."""
    seconds = (utcnow() - since).total_seconds()
    return duration(seconds), seconds > targets[ReviewPriority(level)]


def _waiting(row: QueueRow, targets: dict[ReviewPriority, float]) -> str:
    """How long a raised video not reviewed yet has waited since it was raised, against the
    team's target for its priority."""
    if row.prioritized_at is None or row.state in (VideoStatus.REVIEWED, VideoStatus.FAILED):
        return ""
    waited, late = _waited(row.prioritized_at, row.priority, targets)
    return waited + (", over target" if late else "")


def cold_start_caption(cold: ColdStart) -> str:
    """Why the head of "Most informative first" covers kinds of content rather than doubts."""
    if not cold.model_active:
        return (
            f"No model yet ({cold.labelled:,} labelled videos): the queue opens with one typical "
            "video of each kind of content, chosen after each ingest run."
        )
    if cold.badge_agreement is not None:
        return (
            f"The model is new ({cold.labelled:,} of {cold.needed:,} labelled videos), but "
            "videos that look alike share few labels here (neighbour agreement "
            f"{cold.badge_agreement:.2f}): the queue follows the model's doubts (BADGE) already "
            "instead of opening with one typical video of each kind of content."
        )
    return (
        f"The model is new ({cold.labelled:,} of {cold.needed:,} labelled videos): until then "
        "the queue opens with one typical video of each least-labelled kind of content."
    )


db = cache.database()
user = state.user()
tax = cache.taxonomy()
names = cache.user_names(db.url)
st.title("Review queue")


@st.fragment(run_every=POLL_S)
def ranking_status() -> None:
    """A running prediction or ranking job is re-ranking the queue: say so, and rerun the page
    once it has finished so that "Most informative first" shows the new order."""
    job = cache.latest_ranking_job(db)
    if job is not None and job.status in liveness.ACTIVE_STATUSES:
        st.session_state[RANKING_JOB] = job.id
        what = "prediction job" if job.kind == "predict" else "ranking job"
        st.info(
            md_escape(
                f"Re-ranking the queue ({what} {job.id}: {job.message or job.status}). "
                "Until it finishes, the order shown is the previous one."
            )
        )
    elif st.session_state.pop(RANKING_JOB, None) is not None:
        cache.queue_order_age.clear()
        st.rerun(scope="app")


ranking_status()

counts = cache.queue_counts(db.url)
for column, (key, label) in zip(
    st.columns(5),
    [
        (VideoStatus.NEW.value, "New"),
        (VideoStatus.PREDICTED.value, "Predicted"),
        (IN_REVIEW, "In review"),
        (VideoStatus.REVIEWED.value, "Reviewed"),
        (VideoStatus.FAILED.value, "Failed"),
    ],
    strict=True,
):
    shown = counts[key] + (
        counts[VideoStatus.READY.value] + counts[VideoStatus.PROCESSING.value]
        if key == VideoStatus.NEW.value
        else 0
    )
    column.metric(label, f"{shown:,}")

waiting = [
    (level, backlog)
    for level, backlog in cache.priority_backlog(db.url).items()
    if backlog.videos and backlog.oldest_since is not None
]
targets = cache.review_targets(db.url)
if waiting:
    waits = {level: _waited(backlog.oldest_since, level, targets) for level, backlog in waiting}
    late = any(over for _, over in waits.values())
    show = st.error if late or waiting[0][0] == ReviewPriority.URGENT else st.warning
    show(
        " · ".join(
            f"{backlog.videos:,} {priority_name(level)}, the longest waiting {waits[level][0]}"
            + (
                f" (over the {duration(targets[level])} target)"
                if waits[level][1]
                else f" (target {duration(targets[level])})"
            )
            for level, backlog in waiting
        )
        + ". Review next takes them first.",
        icon=":material/priority_high:",
    )

if user.is_admin:
    minutes = target_minutes(targets)
    with st.expander("Review targets (admin)"), st.form("queue_review_targets", border=False):
        columns = st.columns(2)
        urgent_minutes = columns[0].number_input(
            "Urgent videos reviewed within (minutes)",
            1,
            MAX_REVIEW_TARGET_MINUTES,
            minutes[ReviewPriority.URGENT],
            key="queue_target_urgent",
        )
        high_minutes = columns[1].number_input(
            "High-priority videos within (minutes)",
            1,
            MAX_REVIEW_TARGET_MINUTES,
            minutes[ReviewPriority.HIGH],
            key="queue_target_high",
        )
        st.caption(
            "From the time a video is raised. The banner above, the Review page, Analytics,"
            " the API's `priority.due`, the metrics' alerts and the `video.overdue` webhook"
            " follow it."
        )
        if st.form_submit_button("Save review targets"):
            actions.run_admin(
                lambda: actions.set_review_targets(
                    db, urgent_minutes=int(urgent_minutes), high_minutes=int(high_minutes)
                ),
                success=f"Review targets: urgent {int(urgent_minutes)} min, high "
                f"{int(high_minutes)} min",
            )

with st.container(border=True):
    top = st.columns([3, 2, 2])
    search = top[0].text_input(
        "Search",
        key="queue_search",
        placeholder="title words, #id or the platform's id",
        help="Words of the title; #42 for video 42; the id your platform gave the video"
        " (external id, as in a takedown request).",
    )
    statuses = top[1].multiselect(
        "State",
        list(STATE_LABELS),
        format_func=STATE_LABELS.get,
        key="queue_statuses",
        placeholder="any state",
    )
    sort = top[2].selectbox(
        "Sort",
        list(SORT_LABELS),
        format_func=SORT_LABELS.get,
        key="queue_sort",
        help=(
            "High and urgent videos first (a user's report, a legal request, a priority rule), "
            "the longest waiting first; Review next takes them first whatever the sort. "
            "Most informative first: while few videos per tag are labelled, one typical video of "
            "each least-labelled kind of content first; after that the videos whose labels "
            "would change the model most, no two alike. Recomputed after each prediction run, "
            "and by the server when videos arrive one at a time."
        ),
    )
    if sort == "review_rank":
        if (cold := cache.queue_cold_start(db.url)) is not None:
            st.caption(cold_start_caption(cold))
        if (age := cache.queue_order_age(db.url)) is not None:
            st.caption(md_escape(age))
    bottom = st.columns([3, 2, 2, 2])
    tag = bottom[0].selectbox(
        "Tag (or narrower)",
        [None, *(tax.options if tax else [])],
        format_func=lambda n: "any tag" if n is None else tax.path(n),
        key="queue_tag",
    )
    confidence = bottom[1].slider(
        "Model certainty",
        0.0,
        1.0,
        (0.0, 1.0),
        step=0.05,
        key="queue_confidence",
        help="1 − uncertainty: how far the model's closest call is from its decision threshold",
    )
    assignee = bottom[2].selectbox(
        "Assignee",
        [None, *sorted(names, key=names.get)],
        format_func=lambda u: "anyone" if u is None else names[u],
        key="queue_assignee",
    )
    created = bottom[3].date_input("Created between", value=[], key="queue_created")
    toggles = st.columns(4)
    flagged_only = toggles[0].toggle("Flagged only", key="queue_flagged")
    prioritized_only = toggles[1].toggle(
        "High and urgent only",
        key="queue_prioritized",
        help="Videos the platform (a user's report) or a lead marked to be reviewed sooner.",
    )

filters = QueueFilters(
    statuses=tuple(statuses),
    tag=tag,
    confidence=tuple(confidence),
    assignee_id=assignee,
    created_from=created[0] if len(created) > 0 else None,
    created_to=created[1] if len(created) > 1 else (created[0] if len(created) == 1 else None),
    search=search,
    flagged_only=flagged_only,
    prioritized_only=prioritized_only,
    sort=sort,
)
st.session_state[state.QUEUE_FILTERS] = filters

languages = state.user().languages
if st.button("▶ Review next", type="primary", key="queue_review_next"):
    video = actions.claim_next(db, filters=filters, exclude_ids=st.session_state[state.SKIPPED])
    if video is None:
        st.info(
            "Nothing left to review with these filters"
            + (" in your languages." if languages else ".")
        )
    else:
        st.session_state[state.REVIEW_VIDEO] = video.id
        st.switch_page("views/review.py")

if languages:
    st.caption(
        f"Review next gives you videos spoken in {', '.join(languages)}, or with no language "
        "detected or no speech (your languages, set by an admin); the list below shows all."
    )

page_size = st.session_state.get("queue_page_size", PAGE_SIZES[1])
page_no = st.session_state.get("queue_page", 1)
result = readers.queue_page(db, filters=filters, page=page_no, page_size=page_size)

frame = pd.DataFrame(
    {
        "id": [r.video_id for r in result.rows],
        "title": [r.title for r in result.rows],
        "priority": [
            priority_name(r.priority) if r.priority > ReviewPriority.NORMAL else ""
            for r in result.rows
        ],
        "waiting": [_waiting(r, targets) for r in result.rows],
        "state": [STATE_LABELS.get(r.state, r.state) for r in result.rows],
        "top tag": [r.top_tag for r in result.rows],
        "certainty": [r.confidence for r in result.rows],
        "least sure about": [r.least_sure_about for r in result.rows],
        "assignee": [r.assignee for r in result.rows],
        "flagged": [r.flagged for r in result.rows],
        "created": [r.created_at for r in result.rows],
        "error": [r.error for r in result.rows],
    }
)
st.caption(f"{result.total:,} videos match · page {result.page} of {result.n_pages}")
st.dataframe(
    frame,
    hide_index=True,
    key="queue_table",
    column_config={
        "id": st.column_config.NumberColumn(width="small", format="%d"),
        "certainty": st.column_config.ProgressColumn(
            min_value=0.0,
            max_value=1.0,
            format="%.2f",
            help="1 − uncertainty (the closest call to a threshold)",
        ),
        "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    },
)
nav = st.columns([4, 1], vertical_alignment="bottom")
with nav[0]:
    st.pagination(result.n_pages, key="queue_page")
nav[1].selectbox("Per page", PAGE_SIZES, index=1, key="queue_page_size")

if result.rows:
    pick = st.columns([4, 1], vertical_alignment="bottom")
    chosen = pick[0].selectbox(
        "Open a video from this page",
        [r.video_id for r in result.rows],
        format_func=lambda v: f"#{v} · {next(r.title for r in result.rows if r.video_id == v)}",
        key="queue_open_choice",
    )
    if pick[1].button("Open", key="queue_open"):
        try:
            actions.claim_video(db, video_id=chosen)
        except VideoClaimedError as e:
            st.warning(md_escape(str(e)))
        else:
            st.session_state[state.REVIEW_VIDEO] = chosen
            st.switch_page("views/review.py")
