"""Single sign-on's routes: the browser's round trip to a loopback provider and back, ending with
the same session cookie as a password sign-in; what a broken or refused attempt comes back to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core import auth
from core import sso as core_sso
from core.config import get_settings
from dashboard.routes import session, sso
from db.queries import audit
from db.tables import AuditAction
from tests.dashboard.routes.conftest import PASSWORD, Served
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, FakeProvider

CALLBACK = f"http://testserver{sso.CALLBACK_PATH}"


@pytest.fixture
def provider(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    """The provider, configured as the dashboard's; it signs in "mod" of ``served``."""
    idp = FakeProvider()
    idp.claims = {"sub": "subject-mod", "email": "mod", "groups": []}
    monkeypatch.setenv("TAGGER_OIDC_ISSUER", idp.issuer)
    monkeypatch.setenv("TAGGER_OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("TAGGER_OIDC_CLIENT_SECRET", CLIENT_SECRET)
    get_settings.cache_clear()
    yield idp
    idp.close()
    get_settings.cache_clear()


@pytest.fixture
def browser(served: Served) -> TestClient:
    """A client of the sign-in routes that keeps cookies, as a browser does."""
    app = Starlette(routes=[*session.routes, *sso.routes])
    return TestClient(app, base_url="http://testserver")


def _via_provider(browser: TestClient, provider: FakeProvider):
    """Start, let the provider approve, come back: the callback's answer."""
    started = browser.get(sso.START_PATH, follow_redirects=False)
    assert started.status_code == 303
    back = provider.approve(started.headers["location"])
    return browser.get(back, follow_redirects=False)


def test_without_a_provider_the_routes_are_not_there(browser: TestClient) -> None:
    assert browser.get(sso.START_PATH, follow_redirects=False).status_code == 404
    assert browser.get(sso.CALLBACK_PATH, follow_redirects=False).status_code == 404


def test_the_round_trip_ends_signed_in_with_the_session_cookie(browser, provider, served) -> None:
    started = browser.get(sso.START_PATH, follow_redirects=False)
    to_provider = urlsplit(started.headers["location"])
    assert f"{to_provider.scheme}://{to_provider.netloc}" == provider.issuer
    query = dict(parse_qsl(to_provider.query))
    assert query["redirect_uri"] == CALLBACK and query["code_challenge_method"] == "S256"
    pending = started.headers["set-cookie"]
    assert pending.startswith(f"{sso.PENDING_COOKIE}=") and "HttpOnly" in pending
    assert f"Path={sso.PREFIX}" in pending and "SameSite=lax" in pending
    back = browser.get(provider.approve(started.headers["location"]), follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/"
    cookies = back.headers.get_list("set-cookie")
    assert any(c.startswith(f'{sso.PENDING_COOKIE}=""') and "Max-Age=0" in c for c in cookies)
    token = back.cookies[session.COOKIE]
    assert auth.resolve_session(served.db, token).username == "mod"
    assert token not in back.text


def test_the_redirect_back_uses_the_public_address(browser, provider, monkeypatch) -> None:
    monkeypatch.setenv("TAGGER_PUBLIC_URL", "https://tagger.example.com/")
    get_settings.cache_clear()
    started = browser.get(sso.START_PATH, follow_redirects=False)
    query = dict(parse_qsl(urlsplit(started.headers["location"]).query))
    assert query["redirect_uri"] == f"https://tagger.example.com{sso.CALLBACK_PATH}"
    assert "Secure" in started.headers["set-cookie"]  # browsers use https there


def test_an_answer_this_browser_did_not_ask_for_signs_nobody_in(browser, provider) -> None:
    """Login CSRF: another browser's code, or one arriving without this browser's attempt."""
    elsewhere = TestClient(Starlette(routes=sso.routes), base_url="http://testserver")
    started = elsewhere.get(sso.START_PATH, follow_redirects=False)
    back = browser.get(provider.approve(started.headers["location"]), follow_redirects=False)
    assert back.headers["location"] == f"/?{session.SIGNIN_RESULT_PARAM}=sso_failed"
    assert session.COOKIE not in back.cookies


def test_a_refusal_comes_back_with_its_reason_code(browser, provider) -> None:
    provider.claims = {"sub": "subject-x", "email": "nobody-here"}
    back = _via_provider(browser, provider)
    assert back.headers["location"] == f"/?{session.SIGNIN_RESULT_PARAM}=sso_refused"
    assert session.COOKIE not in back.cookies
    provider.deny = "access_denied"
    back = _via_provider(browser, provider)
    assert back.headers["location"] == f"/?{session.SIGNIN_RESULT_PARAM}=sso_failed"


def test_passwords_can_be_turned_off_once_a_provider_signs_in(browser, provider, monkeypatch):
    monkeypatch.setenv("TAGGER_PASSWORD_SIGNIN", "false")
    get_settings.cache_clear()
    refused = browser.post(
        session.SIGNIN_PATH, data={"username": "mod", "password": PASSWORD}, follow_redirects=False
    )
    assert refused.headers["location"] == f"/?{session.SIGNIN_RESULT_PARAM}=password_off"
    assert session.COOKIE not in refused.cookies
    assert session.COOKIE in _via_provider(browser, provider).cookies


def test_sign_out_goes_on_to_the_provider_where_the_setting_asks(
    browser, provider, served, monkeypatch
) -> None:
    """Off (the default): the dashboard's session ends, the provider's is left. On: the browser
    goes on to the provider's end-session endpoint with the ID token as hint and comes back to
    the sign-in page; a password session, or a provider without the endpoint, stays here."""
    token = _via_provider(browser, provider).cookies[session.COOKIE]
    left = browser.post(session.SIGNOUT_PATH, follow_redirects=False)
    assert left.headers["location"] == session.HOME and provider.ended == []
    assert auth.resolve_session(served.db, token) is None
    monkeypatch.setenv("TAGGER_OIDC_PROVIDER_SIGNOUT", "true")
    get_settings.cache_clear()
    token = _via_provider(browser, provider).cookies[session.COOKIE]
    left = browser.post(session.SIGNOUT_PATH, follow_redirects=False)
    assert left.headers["location"].startswith(f"{provider.issuer}/end-session?")
    assert f'{session.COOKIE}=""' in left.headers["set-cookie"]
    assert auth.resolve_session(served.db, token) is None  # ended here first
    back = httpx.get(left.headers["location"], follow_redirects=False)
    assert back.headers["location"] == "http://testserver/"  # the sign-in page
    [ended] = provider.ended
    assert ended["client_id"] == CLIENT_ID and ended["id_token_hint"].count(".") == 2
    signed = browser.post(
        session.SIGNIN_PATH, data={"username": "mod", "password": PASSWORD}, follow_redirects=False
    )
    assert signed.cookies[session.COOKIE]
    assert browser.post(session.SIGNOUT_PATH, follow_redirects=False).headers["location"] == "/"
    provider.end_session = False
    monkeypatch.setattr(core_sso, "METADATA_TTL_S", 0.0)  # the server's client reads it again
    _via_provider(browser, provider)
    assert browser.post(session.SIGNOUT_PATH, follow_redirects=False).headers["location"] == "/"
    assert len(provider.ended) == 1


def test_the_provider_s_back_channel_logout_ends_the_session(browser, provider, served) -> None:
    provider.claims = {**provider.claims, "sid": "sid-7"}
    token = _via_provider(browser, provider).cookies[session.COOKIE]
    server = TestClient(Starlette(routes=sso.routes), base_url="http://testserver")
    other_session = provider.logout_token(sid="sid-other")
    answer = server.post(sso.LOGOUT_PATH, data={"logout_token": other_session})
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    assert auth.resolve_session(served.db, token).username == "mod"
    forged = provider.logout_token(sid="sid-7", aud="another-client")
    refused = server.post(sso.LOGOUT_PATH, data={"logout_token": forged})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
    assert "aud" in refused.json()["error_description"]
    assert server.post(sso.LOGOUT_PATH, data={}).status_code == 400
    assert auth.resolve_session(served.db, token).username == "mod"
    ended = server.post(sso.LOGOUT_PATH, data={"logout_token": provider.logout_token(sid="sid-7")})
    assert ended.status_code == 200
    assert auth.resolve_session(served.db, token) is None
    # the page's next action finds itself signed out
    assert browser.post(session.SIGNOUT_PATH, follow_redirects=False).headers["location"] == "/"


def test_without_a_provider_there_is_no_back_channel(browser: TestClient) -> None:
    assert browser.post(sso.LOGOUT_PATH, data={"logout_token": "x"}).status_code == 404


def test_the_provider_s_front_channel_logout_ends_the_session(browser, provider, served) -> None:
    """The provider's hidden frame in the person's browser: cross-site, so without the
    dashboard's cookie; the provider session's sid names what ends (iss may come with it, and
    must then be the provider's; Entra ID sends sid alone)."""
    provider.claims = {**provider.claims, "sid": "sid-9"}
    token = _via_provider(browser, provider).cookies[session.COOKIE]
    frame = TestClient(Starlette(routes=sso.routes), base_url="http://testserver")
    path = sso.FRONT_CHANNEL_LOGOUT_PATH
    other = frame.get(path, params={"iss": provider.issuer, "sid": "sid-other"})
    assert other.status_code == 200 and "no-store" in other.headers["cache-control"]
    refusals = [
        ({"iss": provider.issuer}, "(sid)"),
        ({}, "(sid)"),
        ({"iss": "https://elsewhere.example", "sid": "sid-9"}, "is not this provider"),
    ]
    for params, words in refusals:
        refused = frame.get(path, params=params)
        assert refused.status_code == 400 and words in refused.text, refused.text
    assert auth.resolve_session(served.db, token).username == "mod"
    ended = frame.get(path, params={"sid": "sid-9"})
    assert ended.status_code == 200 and ended.headers["pragma"] == "no-cache"
    assert auth.resolve_session(served.db, token) is None
    again = _via_provider(browser, provider).cookies[session.COOKIE]  # sid-9 again, and with iss
    assert frame.get(path, params={"iss": provider.issuer, "sid": "sid-9"}).status_code == 200
    assert auth.resolve_session(served.db, again) is None
    with served.db.session() as s:
        ended_by_provider = [
            json.loads(e.detail_json)
            for e in audit.list_audit(s, action=AuditAction.LOGOUT)
            if e.detail_json
        ]
    assert ended_by_provider == [{"via": "provider", "sessions": 1}] * 2


def test_without_a_provider_there_is_no_front_channel(browser: TestClient) -> None:
    answer = browser.get(sso.FRONT_CHANNEL_LOGOUT_PATH, params={"iss": "x", "sid": "y"})
    assert answer.status_code == 404
