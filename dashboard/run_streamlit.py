"""``python -m dashboard.run_streamlit run SERVER_FILE ...``: Streamlit's command line with the
server's log lines set up first (:mod:`dashboard.server_logs`), so that what Streamlit logs
before it loads the server file (a port already in use, its start) comes in the same form as
the rest, JSON included. ``tagger serve`` starts the server this way (:mod:`dashboard.launch`)."""

from __future__ import annotations

from streamlit.web.cli import main

from core.config import get_settings
from dashboard.server_logs import set_up_server_logs

if __name__ == "__main__":
    set_up_server_logs(get_settings())
    main(prog_name="streamlit")  # as `python -m streamlit` names itself
