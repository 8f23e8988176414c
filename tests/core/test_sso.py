"""Single sign-on (core/sso.py) against a loopback OpenID Connect provider: the ID token's checks,
and which account an identity signs in to, with what role."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlmodel import select

from core import auth, sso
from core.config import Settings
from db.engine import Database
from db.queries import users
from db.tables import AuditAction, AuditLog, Role, User, UserSession
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, FakeProvider, new_key

REDIRECT = "http://dashboard.test/auth/sso/callback"


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    idp = FakeProvider()
    yield idp
    idp.close()


@pytest.fixture
def sso_settings(settings: Settings, provider: FakeProvider) -> Settings:
    return settings.model_copy(
        update={
            "oidc_issuer": provider.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
        }
    )


@pytest.fixture
def db(database: Database) -> Database:
    """Each backend: the binding's unique index and the accounts' lock differ between them."""
    return database


def _round_trip(client: sso.OidcClient, provider: FakeProvider) -> sso.Identity:
    """What the browser and the callback do: to the provider, back with a code, exchanged."""
    url, pending = client.begin(REDIRECT)
    back = provider.approve(url)
    assert back.startswith(REDIRECT + "?")
    return client.identity(_query(back), pending, REDIRECT)


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _audit(db: Database, action: str) -> list[tuple[str | None, dict]]:
    """(username, detail) of each audit entry of ``action``."""
    with db.session() as s:
        entries = s.exec(select(AuditLog).where(AuditLog.action == action))
        return [(entry.username, json.loads(entry.detail_json)) for entry in entries]


# --- the provider's answer ----------------------------------------------------------------------


def test_a_round_trip_gives_the_verified_identity(sso_settings, provider) -> None:
    provider.claims = {"sub": "s-42", "email": "ann@example.com", "groups": ["mods", "x"]}
    identity = _round_trip(sso.OidcClient(sso_settings), provider)
    assert identity == sso.Identity(
        issuer=provider.issuer, subject="s-42", username="ann@example.com", groups=("mods", "x")
    )
    assert identity.key == f"{provider.issuer} s-42"
    # metadata once, keys once, and the code exchanged once
    assert provider.requests == [
        "GET /.well-known/openid-configuration",
        "GET /authorize",
        "POST /token",
        "GET /jwks",
    ]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"aud": "another-client"}, "aud"),
        ({"iss": "http://elsewhere.test"}, "iss"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nonce": "another-attempt"}, "nonce"),
    ],
)
def test_an_id_token_for_another_client_issuer_time_or_attempt_is_refused(
    sso_settings, provider, changes, words
) -> None:
    provider.token_changes = changes
    with pytest.raises(sso.SsoError, match="ID token is not valid here") as refused:
        _round_trip(sso.OidcClient(sso_settings), provider)
    assert words in str(refused.value)


def test_a_token_signed_with_a_key_the_provider_does_not_publish_is_refused(
    sso_settings, provider
) -> None:
    forged = new_key(provider.key.kid)  # same key id, other key
    provider.forge_with = forged
    with pytest.raises(sso.SsoError, match="not valid here"):
        _round_trip(sso.OidcClient(sso_settings), provider)


def test_the_provider_s_new_key_is_read_when_a_token_names_it(
    sso_settings, provider, monkeypatch
) -> None:
    client = sso.OidcClient(sso_settings)
    assert _round_trip(client, provider).subject == "subject-1"
    provider.rotate_key()
    with pytest.raises(sso.SsoError, match="not valid here"):  # keys read a moment ago: kept
        _round_trip(client, provider)
    monkeypatch.setattr(sso, "KEY_REFRESH_S", 0.0)
    assert _round_trip(client, provider).subject == "subject-1"
    assert provider.requests.count("GET /jwks") == 2


def test_an_answer_for_another_attempt_or_a_reused_code_is_refused(sso_settings, provider) -> None:
    client = sso.OidcClient(sso_settings)
    url, pending = client.begin(REDIRECT)
    _, other = client.begin(REDIRECT)
    params = _query(provider.approve(url))
    with pytest.raises(sso.SsoError, match="another sign-in attempt"):
        client.identity(params, other, REDIRECT)
    assert client.identity(params, pending, REDIRECT).subject == "subject-1"
    with pytest.raises(sso.SsoError, match="answered 400.*bad code"):  # a code is good once
        client.identity(params, pending, REDIRECT)


def test_a_refusal_at_the_provider_is_said_in_its_words(sso_settings, provider) -> None:
    provider.deny = "access_denied"
    with pytest.raises(sso.SsoError, match="refused the sign-in: The user said no"):
        _round_trip(sso.OidcClient(sso_settings), provider)


def test_a_wrong_client_secret_is_the_provider_s_refusal(sso_settings, provider) -> None:
    wrong = sso_settings.model_copy(update={"oidc_client_secret": "not-it"})
    with pytest.raises(sso.SsoError, match="answered 401.*invalid_client"):
        _round_trip(sso.OidcClient(wrong), provider)


def test_an_issuer_setting_that_is_not_the_provider_s_own_says_so(sso_settings, provider) -> None:
    provider.named = "https://idp.example.com"  # e.g. reached through another address
    with pytest.raises(sso.SsoError, match="names itself 'https://idp.example.com'"):
        sso.OidcClient(sso_settings).begin(REDIRECT)


def test_an_issuer_that_ends_in_a_slash_is_the_tokens_exact_issuer(sso_settings, provider):
    """Some providers name themselves with a trailing slash (the setting may leave it out);
    their tokens' ``iss`` carries it, and the identity is bound to it as the provider says."""
    provider.named = provider.issuer + "/"
    identity = _round_trip(sso.OidcClient(sso_settings), provider)
    assert identity.issuer == provider.issuer + "/"
    provider.token_changes = {"iss": provider.issuer}  # without: not this issuer
    with pytest.raises(sso.SsoError, match="iss"):
        _round_trip(sso.OidcClient(sso_settings), provider)


def test_an_unreachable_provider_is_an_error_in_words(sso_settings) -> None:
    gone = sso_settings.model_copy(update={"oidc_issuer": "http://127.0.0.1:9"})
    with pytest.raises(sso.SsoError, match="cannot reach the provider"):
        sso.OidcClient(gone).begin(REDIRECT)


def test_an_unverified_e_mail_or_one_with_spaces_names_no_account(sso_settings, provider) -> None:
    provider.claims = {"sub": "s", "email": "ann@example.com", "email_verified": False}
    with pytest.raises(sso.SsoRefusedError, match="not verified"):
        _round_trip(sso.OidcClient(sso_settings), provider)
    provider.claims = {"sub": "s", "email": "ann smith@example.com"}
    with pytest.raises(sso.SsoRefusedError, match="cannot be an account name"):
        _round_trip(sso.OidcClient(sso_settings), provider)
    provider.claims = {"sub": "s"}
    with pytest.raises(sso.SsoRefusedError, match="no 'email'"):
        _round_trip(sso.OidcClient(sso_settings), provider)


def test_a_pending_attempt_expires_and_a_mangled_cookie_is_refused() -> None:
    pending = sso.PendingSignIn(state="s", nonce="n", verifier="v", started=1000.0)
    cookie = pending.to_cookie()
    assert sso.PendingSignIn.from_cookie(cookie, now=1000.0 + sso.PENDING_TTL_S) == pending
    with pytest.raises(sso.SsoError, match="took too long"):
        sso.PendingSignIn.from_cookie(cookie, now=1001.0 + sso.PENDING_TTL_S)
    with pytest.raises(sso.SsoError, match="unreadable"):
        sso.PendingSignIn.from_cookie("bm90IGpzb24")
    with pytest.raises(sso.SsoError, match="started no sign-in"):
        sso.PendingSignIn.from_cookie(None)


# --- which account, with which role -------------------------------------------------------------


def _identity(username: str = "ann@example.com", subject: str = "s-1", groups=()) -> sso.Identity:
    return sso.Identity(
        issuer="https://idp.test", subject=subject, username=username, groups=tuple(groups)
    )


def _add(db: Database, name: str, role: str = Role.MODERATOR) -> None:
    auth.create_user(db, username=name, password=auth.generate_password(), role=role)


def _role(db: Database, name: str) -> str:
    with db.session() as s:
        return users.get_user_by_name(s, username=name).role


def test_without_an_account_or_a_role_rule_nobody_gets_in(db, settings) -> None:
    with pytest.raises(sso.SsoRefusedError, match="no account 'ann@example.com' here"):
        sso.sign_in(db, _identity(), settings=settings)
    [(username, detail)] = _audit(db, AuditAction.LOGIN_FAILED)
    assert username == "ann@example.com" and detail["via"] == "sso"
    with db.session() as s:
        assert list(s.exec(select(User))) == []


def test_an_account_an_admin_added_is_bound_and_keeps_its_identity(db, settings) -> None:
    _add(db, "ann@example.com", Role.LEAD)
    signed = sso.sign_in(db, _identity(), settings=settings)
    assert (signed.user.username, signed.user.role) == ("ann@example.com", Role.LEAD)
    assert auth.resolve_session(db, signed.token).username == "ann@example.com"
    [(_, bound)] = _audit(db, AuditAction.SSO_BOUND)
    assert bound["identity"] == "https://idp.test s-1"
    [(_, login)] = _audit(db, AuditAction.LOGIN)
    assert login == {"via": "sso"}
    # the e-mail changes at the provider: the same account, not a new one, under the new name
    again = sso.sign_in(db, _identity(username="ann.smith@example.com"), settings=settings)
    assert again.user.id == signed.user.id and again.user.username == "ann.smith@example.com"
    assert auth.resolve_session(db, signed.token).username == "ann.smith@example.com"
    assert len(_audit(db, AuditAction.SSO_BOUND)) == 1
    [(_, renamed)] = _audit(db, AuditAction.USER_RENAMED)
    assert renamed == {
        "user_id": signed.user.id,
        "from": "ann@example.com",
        "to": "ann.smith@example.com",
        "via": "sso",
    }


def test_a_new_name_another_account_has_is_not_taken(db, settings, caplog) -> None:
    _add(db, "ann@example.com")
    first = sso.sign_in(db, _identity(), settings=settings)
    _add(db, "ann.smith@example.com")  # someone else's
    again = sso.sign_in(db, _identity(username="ann.smith@example.com"), settings=settings)
    assert again.user.id == first.user.id and again.user.username == "ann@example.com"
    assert "a name another account has here" in caplog.text
    assert _audit(db, AuditAction.USER_RENAMED) == []


def test_a_name_bound_to_another_identity_is_not_taken_over(db, settings) -> None:
    _add(db, "ann@example.com")
    sso.sign_in(db, _identity(subject="s-1"), settings=settings)
    with pytest.raises(sso.SsoRefusedError, match="another identity"):
        sso.sign_in(db, _identity(subject="s-2"), settings=settings)


def test_a_disabled_account_is_refused_whatever_the_provider_says(db, settings) -> None:
    _add(db, "ann@example.com")
    auth.disable_user(db, username="ann@example.com")
    with pytest.raises(sso.SsoRefusedError, match="disabled"):
        sso.sign_in(db, _identity(), settings=settings)


def test_a_role_for_new_accounts_makes_them_at_first_sign_in(db, settings) -> None:
    moderators = settings.model_copy(update={"oidc_new_account_role": Role.MODERATOR.value})
    signed = sso.sign_in(db, _identity(), settings=moderators)
    assert signed.user.role == Role.MODERATOR
    [(_, added)] = _audit(db, AuditAction.USER_ADDED)
    assert added["via"] == "sso" and added["role"] == Role.MODERATOR
    with db.session() as s:  # no password signs in to it until an admin resets one
        assert s.exec(select(User)).one().sso_identity == "https://idp.test s-1"


def test_mapped_groups_decide_the_role_at_every_sign_in(db, settings) -> None:
    mapped = settings.model_copy(
        update={"oidc_roles": "tagger-mods=moderator, tagger-leads=lead,tagger-admins=admin"}
    )
    _add(db, "root", Role.ADMIN)
    first = sso.sign_in(db, _identity(groups=["staff", "tagger-mods"]), settings=mapped)
    assert first.user.role == Role.MODERATOR  # made with the mapped role
    promoted = sso.sign_in(db, _identity(groups=["tagger-mods", "tagger-leads"]), settings=mapped)
    assert promoted.user.role == Role.LEAD  # the highest of its groups
    [(_, changed)] = _audit(db, AuditAction.ROLE_CHANGED)
    assert (changed["from"], changed["to"]) == (Role.MODERATOR, Role.LEAD)
    with pytest.raises(sso.SsoRefusedError, match="none of the provider's groups"):
        sso.sign_in(db, _identity(groups=["staff"]), settings=mapped)
    assert _role(db, "ann@example.com") == Role.LEAD  # a refusal changes nothing


def test_the_last_admin_stays_admin_when_the_groups_say_otherwise(db, settings, caplog) -> None:
    mapped = settings.model_copy(update={"oidc_roles": "mods=moderator,admins=admin"})
    _add(db, "ann@example.com", Role.ADMIN)
    with caplog.at_level("WARNING", logger="core.sso"):
        signed = sso.sign_in(db, _identity(groups=["mods"]), settings=mapped)
    assert signed.user.role == Role.ADMIN and "only admin who can sign in" in caplog.text
    _add(db, "bob", Role.ADMIN)  # with another admin, the provider's word holds
    assert sso.sign_in(db, _identity(groups=["mods"]), settings=mapped).user.role == Role.MODERATOR


def test_a_role_rule_with_a_typo_is_an_error_in_words(db, settings) -> None:
    typo = settings.model_copy(update={"oidc_roles": "mods=moderater"})
    with pytest.raises(sso.SsoError, match="expected group=role"):
        sso.sign_in(db, _identity(groups=["mods"]), settings=typo)
    typo = settings.model_copy(update={"oidc_new_account_role": "mod"})
    with pytest.raises(sso.SsoError, match="TAGGER_OIDC_NEW_ACCOUNT_ROLE is 'mod'"):
        sso.sign_in(db, _identity(), settings=typo)
    with db.session() as s:
        assert list(s.exec(select(User))) == []


def test_password_sign_in_can_be_turned_off_only_with_single_sign_on(settings, provider) -> None:
    off = settings.model_copy(update={"password_signin": False})
    assert sso.password_signin_allowed(off)  # no provider: nobody could sign in otherwise
    with_provider = off.model_copy(
        update={"oidc_issuer": provider.issuer, "oidc_client_id": CLIENT_ID}
    )
    assert not sso.password_signin_allowed(with_provider)


def test_an_admin_makes_an_account_forget_its_identity(db, settings) -> None:
    """A person whose account at the provider was made again (a new subject) is refused until
    an admin makes the account forget the old identity."""
    _add(db, "ann@example.com")
    sso.sign_in(db, _identity(subject="old"), settings=settings)
    with pytest.raises(sso.SsoRefusedError, match="another identity"):
        sso.sign_in(db, _identity(subject="new"), settings=settings)
    assert sso.unbind(db, username="ann@example.com") is True
    [(_, forgotten)] = _audit(db, AuditAction.SSO_UNBOUND)
    assert forgotten["identity"] == "https://idp.test old"
    assert sso.sign_in(db, _identity(subject="new"), settings=settings).user.username == (
        "ann@example.com"
    )
    with db.session() as s:
        [account] = users.list_accounts(s)
    assert account.single_sign_on and account.last_sign_in_at is not None
    assert sso.unbind(db, username="ann@example.com") is True
    assert sso.unbind(db, username="ann@example.com") is False
    with pytest.raises(auth.UnknownUserError):
        sso.unbind(db, username="nobody")


# --- signing out: the provider's back-channel logout, and the provider's end-session -----------


def _live(db: Database, signed: auth.SessionToken) -> bool:
    return auth.resolve_session(db, signed.token) is not None


def test_a_back_channel_logout_token_is_verified_as_its_specification_asks(
    sso_settings, provider
) -> None:
    client = sso.OidcClient(sso_settings)
    by_session = client.logout(provider.logout_token(sid="sid-1"))
    assert by_session == sso.ProviderLogout(provider.issuer, subject=None, session_id="sid-1")
    by_subject = client.logout(provider.logout_token(sub="s-1", sid="sid-1"))
    assert (by_subject.subject, by_subject.session_id) == ("s-1", "sid-1")
    refusals = [
        ({"sid": "x", "aud": "another-client"}, "logout token is not valid here.*aud"),
        ({"sid": "x", "iss": "http://elsewhere.test"}, "not valid here.*iss"),
        ({"sid": "x", "exp": int(time.time()) - 3600}, "not valid here.*expired"),
        ({"sid": "x", "jti": None}, "not valid here.*jti"),
        ({"sid": "x", "events": None}, "not valid here.*events"),
        ({"sid": "x", "events": {"urn:other": {}}}, "does not carry the logout event"),
        ({"sid": "x", "nonce": "n"}, "carries a nonce"),  # an ID token is not a logout token
        ({}, "neither a subject nor a session"),
        ({"sid": "x", "exp": None, "iat": int(time.time()) - 3600}, "too old"),
    ]
    for claims, words in refusals:
        with pytest.raises(sso.SsoError, match=words):
            client.logout(provider.logout_token(**claims))
    # without exp, a recent one counts
    assert client.logout(provider.logout_token(sid="y", exp=None)).session_id == "y"
    provider.forge_with = new_key(provider.key.kid)
    with pytest.raises(sso.SsoError, match="not valid here"):
        client.logout(provider.logout_token(sid="x"))
    with pytest.raises(sso.SsoError, match="not a JWT"):
        client.logout("not a token")


def test_a_back_channel_logout_ends_the_provider_session_s_dashboard_sessions(db, settings) -> None:
    """By ``sid``: only the sessions opened in that provider session; by ``sub``: every session
    of the account bound to it, its password sessions too; someone unknown here: nothing."""
    password = auth.generate_password()
    auth.create_user(db, username="ann@example.com", password=password, role=Role.MODERATOR)
    _add(db, "bob@example.com")
    issuer = "https://idp.test"
    laptop = sso.sign_in(db, replace(_identity(), session_id="sid-laptop"), settings=settings)
    phone = sso.sign_in(db, replace(_identity(), session_id="sid-phone"), settings=settings)
    bob = sso.sign_in(
        db, replace(_identity("bob@example.com", "s-2"), session_id="sid-laptop"), settings=settings
    )
    with_password = auth.authenticate(db, "ann@example.com", password)
    ended = sso.end_provider_sessions(
        db, sso.ProviderLogout(issuer, subject="s-1", session_id="sid-laptop")
    )
    assert ended == 1  # bob's session of the same sid is another account's: not ended
    assert [_live(db, s) for s in (laptop, phone, bob, with_password)] == [False, True, True, True]
    [(username, detail)] = _audit(db, AuditAction.LOGOUT)
    assert username == "ann@example.com" and detail == {"via": "provider", "sessions": 1}
    assert sso.end_provider_sessions(db, sso.ProviderLogout(issuer, "s-1", None)) == 2
    assert [_live(db, s) for s in (phone, bob, with_password)] == [False, True, False]
    assert sso.end_provider_sessions(db, sso.ProviderLogout(issuer, None, "sid-laptop")) == 1
    assert not _live(db, bob)
    assert sso.end_provider_sessions(db, sso.ProviderLogout(issuer, "unknown", None)) == 0
    elsewhere = sso.ProviderLogout("https://other.test", None, "sid-phone")
    assert sso.end_provider_sessions(db, elsewhere) == 0


def test_the_id_token_is_kept_only_for_the_provider_s_sign_out(db, settings) -> None:
    _add(db, "ann@example.com")
    identity = replace(_identity(), session_id="sid-1", id_token="eyJ.id.token")
    kept_off = sso.sign_in(db, identity, settings=settings)
    assert auth.logout(db, kept_off.token) is None  # off: the dashboard's session only
    on = settings.model_copy(update={"oidc_provider_signout": True})
    kept_on = sso.sign_in(db, identity, settings=on)
    assert auth.logout(db, kept_on.token) == "eyJ.id.token"
    assert auth.logout(db, kept_on.token) is None  # already ended: nothing more, not audited
    assert [detail for _, detail in _audit(db, AuditAction.LOGOUT)] == [{}, {}]
    with db.session() as s:
        stored = {row.sso_session for row in s.exec(select(UserSession))}
    assert stored == {"https://idp.test sid-1"}


def test_the_end_session_url_carries_the_hint_and_the_way_back(sso_settings, provider) -> None:
    provider.claims = {**provider.claims, "sid": "sid-9"}
    client = sso.OidcClient(sso_settings)
    identity = _round_trip(client, provider)
    assert identity.session_id == "sid-9" and identity.session_key == f"{provider.issuer} sid-9"
    url = client.end_session_url(identity.id_token, "http://dashboard.test/")
    assert url.startswith(f"{provider.issuer}/end-session?")
    assert _query(url) == {
        "id_token_hint": identity.id_token,
        "client_id": CLIENT_ID,
        "post_logout_redirect_uri": "http://dashboard.test/",
    }
    provider.end_session = False  # e.g. Google: no end-session endpoint
    assert sso.OidcClient(sso_settings).end_session_url(identity.id_token, "/") is None
