"""Your password and sessions: every signed-in account changes its own password, proving it
knows the current one (checked and rate-limited as a sign-in is; its other sessions end, this
one stays), or signs out of every other browser (a lost laptop, a shared machine). An account
that signs in through the single sign-on provider is told its password lives there; the form
stays while password sign-in is allowed too."""

from __future__ import annotations

import streamlit as st

from core import sso
from core.auth import MIN_PASSWORD_LENGTH
from core.config import get_settings
from core.errors import TaggerError
from dashboard import actions, cache, state
from dashboard.components import md_escape
from db.engine import Database


def password_form(db: Database) -> None:
    """Change the password: the current one proves the account's owner is at the keyboard."""
    with st.container(width=420), st.form("password_change", clear_on_submit=True):
        current = st.text_input("Current password", type="password", key="password_current")
        new = st.text_input(
            f"New password (at least {MIN_PASSWORD_LENGTH} characters)",
            type="password",
            key="password_new",
        )
        repeated = st.text_input("New password again", type="password", key="password_repeated")
        change = st.form_submit_button("Change password")
    if not change:
        return
    if new != repeated:
        st.error("The new password and its repetition differ.")
        return
    try:
        actions.change_own_password(db, current_password=current, new_password=new)
    except TaggerError as e:
        st.error(md_escape(str(e)))
    else:
        st.success("Password changed. Your other sessions have ended; this one goes on.")


db = cache.database()
settings = get_settings()
me = state.user()
passwords_here = sso.password_signin_allowed(settings)
st.title("Password")
st.caption(f"Signed in as {md_escape(me.username)}")
if me.single_sign_on:
    also = " The password below is for signing in here without it." if passwords_here else ""
    st.info(
        f"You sign in with {md_escape(settings.oidc_name)}: your password is changed there.{also}"
    )
if passwords_here or not me.single_sign_on:
    password_form(db)

st.subheader("Other browsers")
if st.button("Sign out everywhere else", key="password_end_sessions"):
    ended = actions.end_own_other_sessions(db)
    st.success(f"Signed out of {ended} other session{'' if ended == 1 else 's'}; this one goes on.")
