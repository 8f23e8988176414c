"""Sign-in: local accounts created with `tagger users add`; nothing else is reachable before it.

The form posts to our own route (dashboard/routes/session.py), which sets the session cookie
and sends the browser back here; a refused attempt comes back with the reason.
"""

from __future__ import annotations

import streamlit as st

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
    signin_form()
