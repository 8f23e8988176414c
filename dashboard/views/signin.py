"""Sign-in: a password of an account an admin made, or the team's single sign-on provider when
one is configured (core/sso.py); nothing else is reachable before it.

The form posts to our own route (dashboard/routes/session.py), which sets the session cookie
and sends the browser back here; single sign-on goes to the provider and back through
dashboard/routes/sso.py. A refused attempt comes back with the reason.
"""

from __future__ import annotations

import streamlit as st

from core.config import get_settings
from dashboard import state
from dashboard.components import md_escape, signin_form

st.title("Video tagger")
st.caption("Moderator review dashboard")
flash = st.session_state.pop(state.FLASH, None)
if flash:
    st.warning(md_escape(flash))
problem = state.signin_problem()
if problem:
    st.error(problem)

with st.container(width=420):
    signin_form(get_settings())
