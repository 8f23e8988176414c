"""Sign an AppTest in: AppTest sends no cookies, so the token the sign-in route would have put
in the session cookie is handed to the session directly (``dashboard.state.TOKEN``)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core import auth
from core.config import get_settings
from dashboard import state
from db.engine import get_database


def sign_in_apptest(at: AppTest, username: str, password: str) -> AppTest:
    """Authenticate as the route does (rate limit and audit included) and run the app.

    Raises ``auth.InvalidCredentialsError`` / ``auth.RateLimitedError`` like the route's
    ``core.auth.authenticate``.
    """
    session = auth.authenticate(get_database(get_settings()), username, password)
    at.session_state[state.TOKEN] = session.token
    return at.run()
