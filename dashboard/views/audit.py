"""Audit log (admins only; the router does not register this page for moderators)."""

from __future__ import annotations

import streamlit as st

from core.auth import PermissionDeniedError
from dashboard import cache, readers, state
from db.tables import AuditAction, Role

db = cache.database()
try:
    state.require(db, Role.ADMIN)
except PermissionDeniedError:
    st.error("Admins only.")
    st.stop()
st.title("Audit log")
action = st.selectbox(
    "Action",
    [None, *(a.value for a in AuditAction)],
    format_func=lambda a: "all" if a is None else a,
    key="audit_action",
)
entries = readers.audit_entries(db, action=action, limit=500)
st.dataframe(
    [
        {
            "when": e.created_at,
            "user": e.username,
            "action": e.action,
            "video": e.video_id,
            "tag": e.node_id,
            "detail": e.detail_json,
        }
        for e in entries
    ],
    hide_index=True,
    key="audit_table",
)
