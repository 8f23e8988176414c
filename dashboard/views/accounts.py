"""Accounts (admins only; the router does not register this page for others): who can sign in
and with which role; add an account (its password generated and shown once), rename it, change
a role or the spoken languages it reviews, disable or enable an account, reset a password,
forget the single sign-on identity bound to it. Every change is audited; the only admin who can
sign in cannot be demoted or disabled."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.auth import PermissionDeniedError
from core.errors import TaggerError
from dashboard import actions, cache, readers, state
from dashboard.components import md_escape
from db.tables import Role

ROLES = [role.value for role in Role]
CHOOSE_NEXT = "accounts_choose_next"  # a renamed account, chosen again on the next run

db = cache.database()
try:
    me = state.require(db, Role.ADMIN)
except PermissionDeniedError:
    st.error("Admins only.")
    st.stop()
st.title("Accounts")
table = st.container()  # filled last, so an account added below is already listed


def _password_once(make: Callable[[], str], message: str) -> None:
    """Run ``make`` (an action that returns a generated password) and show the password once,
    or the expected failure in words."""
    try:
        password = make()
    except TaggerError as e:
        st.error(md_escape(str(e)))
    else:
        st.success(md_escape(message))
        st.code(password, language=None)


st.subheader("Add an account")
with st.form("accounts_new", clear_on_submit=True):
    new_name = st.text_input("Username", key="accounts_new_name")
    new_role = st.selectbox("Role", ROLES, key="accounts_new_role")
    add = st.form_submit_button("Add account")
if add:
    _password_once(
        lambda: actions.add_account(db, username=new_name, role=new_role),
        f"Added {new_role} {new_name.strip()}. Their password, shown once (only its hash is "
        "stored): pass it on; they can change it on their Password page.",
    )

known = readers.accounts(db)
people = known.people
st.subheader("Change an account")
if CHOOSE_NEXT in st.session_state:  # before the select box: it may not change after
    st.session_state["accounts_chosen"] = st.session_state.pop(CHOOSE_NEXT)
chosen_name = st.selectbox("Account", [a.username for a in people], key="accounts_chosen")
chosen = next((a for a in people if a.username == chosen_name), None)
if chosen is not None:
    role_col, status_col, password_col = st.columns(3, vertical_alignment="bottom")
    with role_col:
        role = st.selectbox(
            "Role", ROLES, index=ROLES.index(chosen.role), key=f"accounts_role_{chosen.username}"
        )
        if st.button("Save role", key="accounts_set_role", disabled=role == chosen.role):
            actions.run_admin(
                lambda: actions.set_account_role(db, username=chosen.username, role=role),
                success=f"{chosen.username} is now {role}",
            )
    with status_col:
        if chosen.disabled:
            if st.button("Enable", key="accounts_enable"):
                actions.run_admin(
                    lambda: actions.set_account_disabled(
                        db, username=chosen.username, disabled=False
                    ),
                    success=f"{chosen.username} can sign in again",
                )
        elif st.button("Disable (signs it out everywhere)", key="accounts_disable"):
            actions.run_admin(
                lambda: actions.set_account_disabled(db, username=chosen.username, disabled=True),
                success=f"{chosen.username} is disabled",
            )
    with password_col:
        reset = st.button("Reset password", key="accounts_reset")
    with st.form(f"accounts_languages_{chosen.username}", border=False):
        languages = st.multiselect(
            "Spoken languages it reviews (none: any). Review next, the tag sweep and binary mode "
            "then give it only videos in these, or with no language detected or no speech.",
            sorted({*known.spoken_languages, *chosen.languages}),
            default=list(chosen.languages),
            accept_new_options=True,
            placeholder="any language (type a code such as de to add one)",
            key=f"accounts_languages_{chosen.username}_codes",
        )
        save_languages = st.form_submit_button("Save languages")
    if save_languages:
        actions.run_admin(
            lambda: actions.set_account_languages(
                db, username=chosen.username, languages=languages
            ),
            success=f"Languages of {chosen.username} saved",
        )
    with st.form(f"accounts_rename_{chosen.username}", border=False):
        rename_to = st.text_input(
            "New name (an e-mail that changed): its sessions, reviews and history stay with it",
            key=f"accounts_rename_{chosen.username}_to",
            help=(
                "It signs in through single sign-on: at its next sign-in it takes the name the "
                "provider gives it again."
                if chosen.single_sign_on
                else None
            ),
        )
        rename = st.form_submit_button("Rename")
    if rename:

        def _rename() -> None:
            st.session_state[CHOOSE_NEXT] = actions.rename_account(
                db, username=chosen.username, new_username=rename_to
            )

        actions.run_admin(_rename, success=f"{chosen.username} is now {rename_to.strip()}")
    if chosen.single_sign_on and st.button(
        "Forget its single sign-on identity",
        key="accounts_forget_sso",
        help="Its next sign-in through the provider binds whichever identity there has its "
        "name: for a person whose account at the provider was made again.",
    ):
        actions.run_admin(
            lambda: actions.forget_account_sso(db, username=chosen.username),
            success=f"{chosen.username} binds a single sign-on identity at its next sign-in",
        )
    if reset:
        _password_once(
            lambda: actions.reset_account_password(db, username=chosen.username),
            f"New password for {chosen.username}, shown once; every session of the account has "
            "ended.",
        )

with table:
    st.dataframe(
        [
            {
                "account": a.username + (" (you)" if a.username == me.username else ""),
                "role": a.role,
                "status": "disabled" if a.disabled else "active",
                "languages": ", ".join(a.languages) or "any",
                "single sign-on": "bound" if a.single_sign_on else "",
                "created": f"{a.created_at:%Y-%m-%d %H:%M} UTC",
                "last sign-in": (
                    f"{a.last_sign_in_at:%Y-%m-%d %H:%M} UTC" if a.last_sign_in_at else "never"
                ),
            }
            for a in people
        ],
        hide_index=True,
        key="accounts_table",
    )
