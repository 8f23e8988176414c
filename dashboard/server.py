"""The dashboard's one server process: the Streamlit app plus our own HTTP routes, one port.

    streamlit run dashboard/server.py      (what `tagger serve` runs)

Streamlit finds the module-level ``app`` and serves it in ASGI mode. Routes are checked before
Streamlit's own; its reserved prefixes (/_stcore, /media, /component, /static) are not ours.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.routes import media, session

APP_SCRIPT = Path(__file__).resolve().parent / "app.py"

routes = [
    *session.routes,
    *media.routes,
    # the REST API mounts here: Mount("/api", create_api()),
]

app = st.App(APP_SCRIPT, routes=routes)
