"""Audit log (admins only; the router does not register this page for moderators): the newest
entries, filtered by action, account or video, and the entries shown as a CSV file (for a
compliance request or an investigation), tags by their names."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.auth import PermissionDeniedError
from dashboard import cache, readers, state
from dashboard.components import spreadsheet_csv
from db.tables import AuditAction, Role

ROW_LIMITS = (500, 5_000, 50_000)
SYSTEM = "system"  # entries no account made: a `tagger` command, the server's own jobs

db = cache.database()
try:
    state.require(db, Role.ADMIN)
except PermissionDeniedError:
    st.error("Admins only.")
    st.stop()
st.title("Audit log")
names = cache.user_names(db.url)
tax = cache.taxonomy()
filters = st.columns(4)
action = filters[0].selectbox(
    "Action",
    [None, *(a.value for a in AuditAction)],
    format_func=lambda a: "all" if a is None else a,
    key="audit_action",
)
account = filters[1].selectbox(
    "Account",
    [None, *sorted(names, key=names.get)],
    format_func=lambda u: "anyone" if u is None else names[u],
    key="audit_account",
)
video = filters[2].number_input(
    "Video id (0: any)", min_value=0, step=1, value=0, key="audit_video"
)
limit = filters[3].selectbox(
    "Newest", ROW_LIMITS, format_func=lambda n: f"{n:,} entries", key="audit_limit"
)
entries = readers.audit_entries(
    db, action=action, user_id=account, video_id=int(video) or None, limit=limit
)
table = pd.DataFrame(
    [
        {
            "when": e.created_at,
            "user": e.username or SYSTEM,
            "action": e.action,
            "video": e.video_id,
            "tag": tax.path(e.node_id) if tax and e.node_id else e.node_id,
            "detail": "" if e.detail_json in (None, "{}") else e.detail_json,
            "tag id": e.node_id,
        }
        for e in entries
    ],
    columns=["when", "user", "action", "video", "tag", "detail", "tag id"],
)
st.caption(
    f"{len(table):,} {'entry' if len(table) == 1 else 'entries'}, newest first"
    + (" (the limit: older ones are not shown)" if len(table) == limit else "")
)
st.dataframe(table, hide_index=True, key="audit_table")
st.download_button(
    "Download these entries (CSV)",
    spreadsheet_csv(table),
    file_name="audit-log.csv",
    mime="text/csv",
    key="audit_download",
)
