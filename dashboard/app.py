"""Router of the moderators' dashboard; dashboard/server.py serves it (`tagger serve`).

Resolves who is signed in (from the database, every run), then registers only the pages that
user may open: nothing but the sign-in page before sign-in, and the admin-only pages only for
admins, so their URLs do not exist for anyone else.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import cache, state
from dashboard.components import md_escape, signout_form

# Not "pages/": with that folder name Streamlit falls back to its legacy directory mode and
# registers every file in it as a page, for everyone.
VIEWS = Path(__file__).parent / "views"

st.set_page_config(page_title="Video tagger", page_icon=":material/label:", layout="wide")
state.init()
db = cache.database()
user = state.resolve(db)

if user is None:
    page = st.navigation(
        [st.Page(VIEWS / "signin.py", title="Sign in", icon=":material/login:", default=True)]
    )
else:
    sections = {
        "Review": [
            st.Page(VIEWS / "queue.py", title="Queue", icon=":material/list:", default=True),
            st.Page(VIEWS / "review.py", title="Review", icon=":material/movie:"),
            st.Page(VIEWS / "sweep.py", title="Tag sweep", icon=":material/grid_view:"),
            st.Page(VIEWS / "binary.py", title="Binary", icon=":material/rule:"),
        ],
        "Insight": [
            st.Page(VIEWS / "models.py", title="Models", icon=":material/model_training:"),
            st.Page(VIEWS / "analytics.py", title="Analytics", icon=":material/insights:"),
        ],
        "Content": [
            st.Page(VIEWS / "ingest.py", title="Ingest", icon=":material/upload:"),
            st.Page(VIEWS / "taxonomy.py", title="Taxonomy", icon=":material/account_tree:"),
        ],
    }
    if user.is_lead:  # label quality (issue 17): leads and admins
        sections["Insight"] += [
            st.Page(VIEWS / "quality.py", title="Label quality", icon=":material/verified:"),
            st.Page(VIEWS / "lead_review.py", title="Lead review", icon=":material/fact_check:"),
        ]
    if user.is_admin:
        sections["Admin"] = [
            st.Page(VIEWS / "accounts.py", title="Accounts", icon=":material/group:"),
            st.Page(VIEWS / "audit.py", title="Audit log", icon=":material/shield:"),
            st.Page(VIEWS / "api_access.py", title="API access", icon=":material/key:"),
        ]
    sections["You"] = [
        st.Page(VIEWS / "my_work.py", title="My work", icon=":material/person_check:"),
        st.Page(VIEWS / "password.py", title="Password", icon=":material/password:"),
    ]
    # every page listed: by default Streamlit folds a menu of more than 12 behind "View N more",
    # which hid the admin pages
    page = st.navigation(sections, expanded=True)
    with st.sidebar:
        st.caption(f"Signed in as **{md_escape(user.username)}** ({user.role})")
        signout_form()

page.run()
