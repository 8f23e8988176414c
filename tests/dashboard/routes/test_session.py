"""Sign-in and sign-out routes: the cookie's attributes, failures, rate limit, revocation."""

from __future__ import annotations

import threading

from core import auth
from core.config import get_settings
from dashboard import deferred
from dashboard.routes import media, session
from tests.dashboard.routes.conftest import PASSWORD, Served, sign_in


def _post_signin(served: Served, username: str, password: str, **headers: str):
    return served.client.post(
        session.SIGNIN_PATH,
        data={"username": username, "password": password},
        headers=headers,
        follow_redirects=False,
    )


def test_sign_in_sets_an_httponly_lax_cookie_and_redirects(served: Served) -> None:
    response = _post_signin(served, "mod", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{session.COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here
    hours = get_settings().session_hours
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
    assert hours * 3600 - 60 < max_age <= hours * 3600  # dropped by the browser at expiry
    token = response.cookies[session.COOKIE]
    assert auth.resolve_session(served.db, token).username == "mod"
    assert token not in response.text  # only in the header


def test_cookie_is_secure_over_https(served: Served) -> None:
    response = served.client.post(
        f"https://testserver{session.SIGNIN_PATH}",
        data={"username": "mod", "password": PASSWORD},
        follow_redirects=False,
    )
    assert "Secure" in response.headers["set-cookie"]


def test_cookie_is_secure_behind_a_proxy_that_ends_https(served: Served, monkeypatch) -> None:
    """The proxy forwards plain http; the public address says browsers use https."""
    monkeypatch.setenv("TAGGER_PUBLIC_URL", "https://tagger.example.com")
    get_settings.cache_clear()
    assert "Secure" in _post_signin(served, "mod", PASSWORD).headers["set-cookie"]


def test_wrong_password_redirects_with_the_reason_and_no_cookie(served: Served) -> None:
    response = _post_signin(served, "mod", "not the password")
    assert response.status_code == 303
    assert response.headers["location"] == f"/?{session.SIGNIN_RESULT_PARAM}={session.INVALID}"
    assert "set-cookie" not in response.headers
    assert served.client.get(media.video_url(served.video_id)).status_code == 401


def test_rate_limit_still_applies(served: Served, monkeypatch) -> None:
    monkeypatch.setenv("TAGGER_LOGIN_MAX_FAILURES", "2")
    get_settings.cache_clear()
    for _ in range(2):
        _post_signin(served, "mod", "wrong")
    response = _post_signin(served, "mod", PASSWORD)  # right password, locked out now
    location = response.headers["location"]
    assert location == f"/?{session.SIGNIN_RESULT_PARAM}={session.RATE_LIMITED}"
    assert "set-cookie" not in response.headers


def test_cross_site_form_posts_are_refused(served: Served) -> None:
    response = _post_signin(served, "mod", PASSWORD, origin="https://evil.example")
    assert response.status_code == 403 and "set-cookie" not in response.headers
    token = sign_in(served.client)
    response = served.client.post(
        session.SIGNOUT_PATH, headers={"origin": "https://evil.example"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert auth.resolve_session(served.db, token) is not None
    same_site = _post_signin(served, "mod", PASSWORD, origin="http://testserver")
    assert same_site.status_code == 303 and session.COOKIE in same_site.cookies


def test_sign_out_revokes_server_side_and_clears_the_cookie(served: Served) -> None:
    token = sign_in(served.client)
    assert served.client.get(media.video_url(served.video_id)).status_code == 200
    response = served.client.post(session.SIGNOUT_PATH, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert f'{session.COOKIE}=""' in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert auth.resolve_session(served.db, token) is None
    served.client.cookies.set(session.COOKIE, token)  # a copy kept by an attacker
    assert served.client.get(media.video_url(served.video_id)).status_code == 401


def test_sign_out_waits_for_the_review_writes_still_running(served: Served) -> None:
    """A save handed to the session's worker just before signing out is written under the
    session, not refused because sign-out revoked it first."""
    token = sign_in(served.client)
    work = deferred.DeferredWork()
    release = threading.Event()

    def save() -> bool:
        release.wait(5)
        return auth.resolve_session(served.db, token) is not None  # the write's session check

    written = work.submit(None, save, token=token)
    threading.Timer(0.3, release.set).start()
    response = served.client.post(session.SIGNOUT_PATH, follow_redirects=False)
    assert response.status_code == 303
    assert written.result(timeout=5) is True  # the session was still valid when it wrote
    assert auth.resolve_session(served.db, token) is None  # and is ended now
