"""One server, one port: the Streamlit dashboard (``dashboard/app.py``) and the HTTP API mounted at
``/api``. ``streamlit run dashboard/server.py`` finds the module-level ``app`` (``tagger serve``
does exactly that); the webhook sender runs for the server's lifetime."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.routing import Mount

from dashboard.api import create_api, webhook_lifespan

APP_SCRIPT = Path(__file__).resolve().parent / "app.py"

app = st.App(APP_SCRIPT, routes=[Mount("/api", create_api())], lifespan=webhook_lifespan)
