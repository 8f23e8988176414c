"""Sign-in: local accounts created with `tagger users add`; nothing else is reachable before it."""

from __future__ import annotations

import streamlit as st

from core.auth import InvalidCredentialsError, RateLimitedError
from dashboard import cache, state
from dashboard.components import md_escape

st.title("Video tagger")
st.caption("Moderator review dashboard")
flash = st.session_state.pop(state.FLASH, None)
if flash:
    st.warning(flash)

with st.form("signin", enter_to_submit=True):
    username = st.text_input("Username", key="signin_username")
    password = st.text_input("Password", type="password", key="signin_password")
    submitted = st.form_submit_button("Sign in", type="primary")

if submitted:
    try:
        state.sign_in(cache.database(), username, password)
    except RateLimitedError as e:
        st.error(f"Too many failed sign-ins: {md_escape(str(e))}")
    except InvalidCredentialsError:
        st.error("Wrong username or password.")
    else:
        st.rerun()
