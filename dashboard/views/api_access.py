"""HTTP API access (admins only; the router does not register this page for moderators): API
tokens (created with the secret shown once, revoked), webhook subscribers and their delivery log."""

from __future__ import annotations

import secrets

import streamlit as st

from core.auth import AuthError, PermissionDeniedError
from core.webhooks import WebhookError
from dashboard import actions, cache, readers, state
from dashboard.components import md_escape
from db.engine import DatabaseError
from db.tables import Role, TokenScope, WebhookEvent

LOG_ROWS = 200
SECRET_BYTES = 32
_EXPECTED = (AuthError, WebhookError, DatabaseError)

db = cache.database()
try:
    state.require(db, Role.ADMIN)
except PermissionDeniedError:
    st.error("Admins only.")
    st.stop()
st.title("API access")
access = readers.api_access(db, log_rows=LOG_ROWS)
accounts = access.accounts

st.subheader("API tokens")
with st.form("api_token_new", clear_on_submit=True):
    name = st.text_input("Token name", key="api_token_name")
    account = st.selectbox("Acts as account", sorted(accounts.values()), key="api_token_account")
    scope = st.selectbox("Scope", [s.value for s in TokenScope], key="api_token_scope")
    create = st.form_submit_button("Create token")
if create:
    try:
        secret = actions.create_api_token(db, name=name, username=account or "", scope=scope)
    except _EXPECTED as e:
        st.error(md_escape(str(e)))
    else:
        st.success("Token created. Copy it now: it is shown once and only its hash is stored.")
        st.code(secret, language=None)
        access = readers.api_access(db, log_rows=LOG_ROWS)  # the list below shows it at once
api_tokens = access.tokens
if not api_tokens:
    st.caption("No API tokens yet.")
else:
    st.dataframe(
        [
            {
                "name": t.name,
                "account": accounts.get(t.user_id, f"#{t.user_id}"),
                "scope": t.scope,
                "starts with": t.prefix + "…",
                "created": t.created_at,
                "last used": t.last_used_at,
                "revoked": t.revoked_at,
            }
            for t in api_tokens
        ],
        hide_index=True,
        key="api_tokens_table",
    )
live = [t.name for t in api_tokens if t.revoked_at is None]
if live:
    revoke = st.selectbox("Revoke token", live, key="api_token_revoke")
    if st.button("Revoke", key="api_token_revoke_button"):
        actions.run_admin(
            lambda: actions.revoke_api_token(db, name=revoke), success=f"Revoked {revoke}"
        )

st.subheader("Webhooks")
with st.form("api_webhook_new", clear_on_submit=True):
    url = st.text_input("URL (http or https)", key="api_webhook_url")
    events = st.multiselect(
        "Events (none: all)", [e.value for e in WebhookEvent], key="api_webhook_events"
    )
    add = st.form_submit_button("Add webhook")
if add:
    key = secrets.token_urlsafe(SECRET_BYTES)
    try:
        actions.add_webhook(db, url=url.strip(), secret=key, events=events)
    except _EXPECTED as e:
        st.error(md_escape(str(e)))
    else:
        st.success("Webhook added. Its signing secret, shown once here:")
        st.code(key, language=None)
        access = readers.api_access(db, log_rows=LOG_ROWS)
subscribers, deliveries = access.subscribers, access.deliveries
if not subscribers:
    st.caption("No webhooks yet.")
else:
    st.dataframe(
        [
            {
                "id": s.id,
                "url": s.url,
                "events": s.events or "all",
                "created": s.created_at,
                "active": s.active,
            }
            for s in subscribers
        ],
        hide_index=True,
        key="api_webhooks_table",
    )
active = {s.id: s.url for s in subscribers if s.active}
if active:
    remove = st.selectbox(
        "Remove webhook", list(active), format_func=active.get, key="api_webhook_remove"
    )
    if st.button("Remove", key="api_webhook_remove_button"):
        actions.run_admin(
            lambda: actions.remove_webhook(db, subscriber_id=remove), success="Webhook removed"
        )

st.subheader("Delivery log")
if not deliveries:
    st.caption("No webhook deliveries yet.")
else:
    st.dataframe(
        [
            {
                "id": d.id,
                "webhook": d.subscriber_id,
                "event": d.event,
                "video": d.video_id,
                "status": d.status,
                "attempts": d.attempts,
                "last answer": d.last_error or d.last_status_code,
                "next attempt": d.next_attempt_at,
                "created": d.created_at,
            }
            for d in deliveries
        ],
        hide_index=True,
        key="api_deliveries_table",
    )
