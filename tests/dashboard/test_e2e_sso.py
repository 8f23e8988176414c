"""End to end in a real browser: single sign-on through a loopback OpenID Connect provider on
`tagger serve`. A person in a mapped group clicks "Sign in with ...", goes to the provider and
back, and lands signed in, with an account made for them; a reload keeps the session; signing
out ends it, and the provider's session too (``TAGGER_OIDC_PROVIDER_SIGNOUT``), coming back to the
sign-in page; a person in no mapped group comes back to the sign-in page with the reason.

The dashboard runs in its own process group and the Playwright session in a child process group
with a hard deadline (:func:`tests.support.browser.run_in_browser`).
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from core import auth
from core.config import Settings
from db.engine import get_database, init_db
from db.queries import audit, users
from db.tables import AuditAction, Role, UserSession
from scripts.bench.review import _idle
from tests.support.browser import browser_available, run_in_browser, serve_dashboard
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, FakeProvider

pytestmark = pytest.mark.slow

BROWSER_DEADLINE_S = 180
PROVIDER = "Acme Okta"


def _sign_in_through_the_provider(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name=f"Sign in with {PROVIDER}").click()


def _session(browser, url: str) -> dict:
    seen: dict = {}
    page = browser.new_page()
    page.set_default_timeout(60_000)
    _sign_in_through_the_provider(page, url)
    page.get_by_role("heading", name="Review queue").wait_for()
    _idle(page)
    seen["landed"] = page.url
    seen["password_form"] = page.get_by_role("textbox", name="Password").count()
    page.reload()  # the session cookie keeps it signed in
    page.get_by_role("heading", name="Review queue").wait_for()
    _idle(page)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name=f"Sign in with {PROVIDER}").wait_for()
    seen["signed_out"] = True
    return seen


def _refused_session(browser, url: str) -> str:
    page = browser.new_page()
    page.set_default_timeout(60_000)
    _sign_in_through_the_provider(page, url)
    alert = page.get_by_text("signed you in, but that gives no access here")
    alert.wait_for()
    return alert.inner_text()


def test_single_sign_on_in_a_browser(settings: Settings) -> None:
    if reason := browser_available():
        pytest.skip(reason)
    db = get_database(settings)
    init_db(db)
    auth.create_user(db, username="boss", password=auth.generate_password(), role=Role.ADMIN)
    provider = FakeProvider()
    provider.claims = {"sub": "s-ann", "email": "ann@example.com", "groups": ["tagger-mods"]}
    env = {
        "TAGGER_OIDC_ISSUER": provider.issuer,
        "TAGGER_OIDC_CLIENT_ID": CLIENT_ID,
        "TAGGER_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "TAGGER_OIDC_NAME": PROVIDER,
        "TAGGER_OIDC_ROLES": "tagger-mods=moderator,tagger-admins=admin",
        "TAGGER_PASSWORD_SIGNIN": "false",
        "TAGGER_OIDC_PROVIDER_SIGNOUT": "true",
    }
    try:
        with serve_dashboard(settings.data_dir, env=env) as server:
            seen = run_in_browser(_session, server.url, timeout_s=BROWSER_DEADLINE_S)
            provider.claims = {"sub": "s-eve", "email": "eve@example.com", "groups": ["staff"]}
            refusal = run_in_browser(_refused_session, server.url, timeout_s=BROWSER_DEADLINE_S)
    finally:
        provider.close()
    assert seen["landed"].startswith(server.url) and seen["signed_out"]
    assert seen["password_form"] == 0  # TAGGER_PASSWORD_SIGNIN=false: the provider only
    assert PROVIDER in refusal
    [ended] = provider.ended  # through the provider's end-session, and back to the sign-in page
    assert ended["post_logout_redirect_uri"] == server.url.rstrip("/") + "/"
    with db.session() as s:
        ann = users.get_user_by_name(s, username="ann@example.com")
        assert ann.role == Role.MODERATOR and ann.sso_identity == f"{provider.issuer} s-ann"
        assert users.get_user_by_name(s, username="eve@example.com") is None
        logins = audit.list_audit(s, action=AuditAction.LOGIN)
        [signed_out] = audit.list_audit(s, action=AuditAction.LOGOUT)
        [refused] = audit.list_audit(s, action=AuditAction.LOGIN_FAILED)
        sessions = s.exec(select(UserSession).where(UserSession.user_id == ann.id)).all()
    assert [e.username for e in logins] == ["ann@example.com"]  # the reload reused its session
    assert refused.username == "eve@example.com" and signed_out.username == "ann@example.com"
    assert [row.revoked for row in sessions] == [True]  # signed out
