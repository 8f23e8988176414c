"""One server, one port: the Streamlit dashboard (``dashboard/app.py``), our own HTTP routes (media
streaming, sign-in, binary mode's questions and answers) and the HTTP API mounted at ``/api``.

    streamlit run dashboard/server.py      (what `tagger serve` runs)

Streamlit finds the module-level ``app`` and serves it in ASGI mode. Routes are checked before
Streamlit's own; its reserved prefixes (/_stcore, /media, /component, /static) are not ours. The
webhook sender runs for the server's lifetime.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.routing import Mount

from dashboard.api import create_api, webhook_lifespan
from dashboard.routes import binary, media, session

APP_SCRIPT = Path(__file__).resolve().parent / "app.py"

routes = [
    *session.routes,
    *media.routes,
    *binary.routes,
    Mount("/api", create_api()),
]

app = st.App(APP_SCRIPT, routes=routes, lifespan=webhook_lifespan)
