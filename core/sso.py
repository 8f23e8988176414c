"""Single sign-on: the dashboard signs people in through the team's OpenID Connect provider
(Okta, Microsoft Entra ID, Google Workspace, Keycloak, ...), so the team manages access where it
manages everyone else's, and leaving the company ends access to the dashboard at the provider.

The flow is the authorization code flow with PKCE, a ``state`` and a ``nonce``
(:meth:`OidcClient.begin`, then :meth:`OidcClient.identity` on the way back). The ID token is
accepted only with a valid signature from the provider's published keys, this issuer, this
client as its audience, an unexpired time and the nonce of this browser's attempt.

Which account an identity signs in to (:func:`sign_in`):

- the account bound to it (``"<issuer> <subject>"``, bound at its first sign-in), so a later
  change of e-mail or name at the provider keeps the account, which takes the new name (its
  sessions, reviews and history stay; an account that already has that name keeps it, and
  this one its old name, with a warning);
- at a first sign-in, the account whose username equals the username claim (one an admin added
  beforehand, or a password account moving to single sign-on), else a new account, made only
  when the provider's groups map to a role (``oidc_roles``) or ``oidc_new_account_role`` is set;
- with ``oidc_roles`` the provider's groups decide the role at every sign-in, and a person in no
  mapped group is refused.

A disabled account is refused whatever the provider says. The session is the one a password
sign-in opens (:func:`core.auth.open_session`): the same cookie, lifetime and revocation.

Signing out reaches both ways: the provider's back-channel logout (:meth:`OidcClient.logout`,
then :func:`end_provider_sessions`) ends the dashboard sessions of a person who signed out at the
provider, or whom it signed out (left the company); with ``oidc_provider_signout`` the
dashboard's sign-out goes on to the provider's end-session endpoint
(:meth:`OidcClient.end_session_url`), so the next person at a shared workstation does not find
the last one still signed in there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlmodel import Session

from core.auth import (
    MAX_USERNAME_LENGTH,
    ROLE_RANK,
    AuthError,
    SessionToken,
    change_role_in,
    existing_user,
    generate_password,
    hash_password,
    open_session,
    rename_in,
)
from core.config import Settings
from db.engine import Database
from db.queries import Actor
from db.queries import audit as audit_queries
from db.queries import users as user_queries
from db.tables import AuditAction, Role, User, utcnow

logger = logging.getLogger(__name__)

PENDING_TTL_S = 600  # how long a browser may stay at the provider before coming back
HTTP_TIMEOUT_S = 10.0
METADATA_TTL_S = 3600.0  # the provider's endpoints and keys are read again after this
KEY_REFRESH_S = 60.0  # an unknown key id reads the keys again, at most this often (rotation)
SIGNING_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
CLOCK_SKEW_S = 60
# the event a back-channel logout token carries (OpenID Connect Back-Channel Logout 1.0, 2.4)
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_MAX_AGE_S = 600  # a logout token without exp counts this long after its iat


class SsoError(AuthError):
    """Single sign-on did not complete (the provider refused, or answered something invalid).

    ``reason`` is the code the sign-in page shows in words (dashboard/state.py)."""

    reason = "sso_failed"


class SsoRefusedError(SsoError):
    """The provider vouched for the person, but this dashboard does not let them in."""

    reason = "sso_refused"


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in, from a verified ID token; ``session_id`` is the
    provider's own session (``sid``, where it sends one) and ``id_token`` the token itself."""

    issuer: str
    subject: str
    username: str
    groups: tuple[str, ...]
    session_id: str | None = None
    id_token: str = field(default="", compare=False, repr=False)

    @property
    def key(self) -> str:
        """What an account is bound to: unique and stable at the provider (OIDC Core 2)."""
        return f"{self.issuer} {self.subject}"

    @property
    def session_key(self) -> str | None:
        """What the dashboard session records of the provider's, for its back-channel logout."""
        return provider_session_key(self.issuer, self.session_id)


@dataclass(frozen=True)
class ProviderLogout:
    """A verified back-channel logout: the provider ended its session ``session_id``, or every
    session of ``subject`` (at least one of them is given)."""

    issuer: str
    subject: str | None
    session_id: str | None


def provider_session_key(issuer: str, session_id: str | None) -> str | None:
    """How a dashboard session records the provider's session (None: the provider sent no sid)."""
    return f"{issuer} {session_id}" if session_id else None


@dataclass(frozen=True)
class PendingSignIn:
    """One browser's attempt, kept in an HttpOnly cookie while it is at the provider: the
    ``state`` that must come back, the ``nonce`` the ID token must carry, and the PKCE verifier
    only this browser knows."""

    state: str
    nonce: str
    verifier: str
    started: float

    def to_cookie(self) -> str:
        return base64.urlsafe_b64encode(json.dumps(asdict(self)).encode()).decode()

    @classmethod
    def from_cookie(cls, value: str | None, *, now: float | None = None) -> PendingSignIn:
        if not value:
            raise SsoError("this browser started no sign-in (or its cookie was blocked)")
        try:
            pending = cls(**json.loads(base64.urlsafe_b64decode(value.encode())))
        except (ValueError, TypeError) as e:
            raise SsoError("this browser's sign-in attempt is unreadable; start again") from e
        if (now if now is not None else time.time()) - pending.started > PENDING_TTL_S:
            raise SsoError("the sign-in took too long at the provider; start again")
        return pending


def configured(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def password_signin_allowed(settings: Settings) -> bool:
    """``password_signin`` off takes effect only with single sign-on configured: without it,
    nobody could sign in at all."""
    return settings.password_signin or not configured(settings)


def role_map(settings: Settings) -> dict[str, str]:
    """``oidc_roles`` as group -> role. A pair without ``=`` or with an unknown role raises
    :class:`SsoError` at sign-in, in words, rather than silently giving no role."""
    pairs: dict[str, str] = {}
    for pair in (settings.oidc_roles or "").split(","):
        if not pair.strip():
            continue
        group, sep, role = pair.rpartition("=")
        if not sep or not group.strip() or role.strip() not in ROLE_RANK:
            raise SsoError(
                f"TAGGER_OIDC_ROLES has {pair.strip()!r}: expected group=role with a role of "
                f"{', '.join(ROLE_RANK)}"
            )
        pairs[group.strip()] = role.strip()
    return pairs


def role_from_groups(groups: Sequence[str], mapping: Mapping[str, str]) -> str | None:
    """The highest role any of ``groups`` maps to; None when none maps."""
    roles = [mapping[group] for group in groups if group in mapping]
    return max(roles, key=ROLE_RANK.__getitem__) if roles else None


_clients: dict[tuple, OidcClient] = {}
_clients_lock = threading.Lock()


def client(settings: Settings) -> OidcClient:
    """The server's one client of the provider these settings name: it keeps the provider's
    metadata and keys between requests."""
    key = (settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = OidcClient(settings)
        return _clients[key]


class OidcClient:
    """This dashboard as a client of the provider. The provider's metadata and keys are read on
    first need and kept for ``METADATA_TTL_S``; thread-safe (the server's requests share it)."""

    def __init__(self, settings: Settings, http: httpx.Client | None = None) -> None:
        if not configured(settings):
            raise SsoError("single sign-on is not configured (TAGGER_OIDC_ISSUER, _CLIENT_ID)")
        self.settings = settings
        self.issuer = settings.oidc_issuer.rstrip("/")  # where the metadata is
        self._http = http or httpx.Client(timeout=HTTP_TIMEOUT_S)
        self._lock = threading.Lock()
        self._metadata_read: dict | None = None
        self._keys: KeySet | None = None
        self._read_at = float("-inf")
        self._keys_read_at = float("-inf")

    def begin(self, redirect_uri: str) -> tuple[str, PendingSignIn]:
        """Where to send the browser, and what to remember in its cookie meanwhile."""
        pending = PendingSignIn(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),
            started=time.time(),
        )
        challenge = base64.urlsafe_b64encode(hashlib.sha256(pending.verifier.encode()).digest())
        query = {
            "response_type": "code",
            "client_id": self.settings.oidc_client_id,
            "redirect_uri": redirect_uri,
            "scope": self.settings.oidc_scopes,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": challenge.decode().rstrip("="),
            "code_challenge_method": "S256",
        }
        endpoint = self._metadata_value("authorization_endpoint")
        joiner = "&" if "?" in endpoint else "?"
        return f"{endpoint}{joiner}{urlencode(query)}", pending

    def identity(
        self, params: Mapping[str, str], pending: PendingSignIn, redirect_uri: str
    ) -> Identity:
        """The provider's answer (the callback's query) checked against this browser's attempt,
        the code exchanged and the ID token verified."""
        if params.get("error"):
            words = params.get("error_description") or params["error"]
            raise SsoError(f"the provider refused the sign-in: {words}")
        if not secrets.compare_digest(params.get("state", ""), pending.state):
            raise SsoError("the provider's answer belongs to another sign-in attempt")
        code = params.get("code")
        if not code:
            raise SsoError("the provider's answer has no authorization code")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": pending.verifier,
            "client_id": self.settings.oidc_client_id,
        }
        if self.settings.oidc_client_secret:
            form["client_secret"] = self.settings.oidc_client_secret
        answer = self._request("POST", self._metadata_value("token_endpoint"), data=form)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise SsoError("the provider's token answer has no ID token")
        claims = self._verified_claims(
            id_token,
            "ID token",
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": pending.nonce},
        )
        session_id = claims.get("sid")
        return Identity(
            issuer=claims["iss"],
            subject=str(claims["sub"]),
            username=_username(claims, self.settings.oidc_username_claim),
            groups=_groups(claims.get(self.settings.oidc_groups_claim)),
            session_id=session_id if isinstance(session_id, str) and session_id else None,
            id_token=id_token,
        )

    def logout(self, logout_token: str) -> ProviderLogout:
        """A back-channel logout token the provider posted, verified as its specification asks
        (Back-Channel Logout 1.0, 2.6): this provider's signature, issuer and audience, an
        ``iat`` and ``jti``, the logout event, a ``sub`` or ``sid``, and no ``nonce`` (so that
        an ID token cannot pass for one)."""
        claims = self._verified_claims(
            logout_token,
            "logout token",
            iat={"essential": True},
            jti={"essential": True},
            events={"essential": True},
        )
        events = claims["events"]
        if not isinstance(events, dict) or not isinstance(
            events.get(BACKCHANNEL_LOGOUT_EVENT), dict
        ):
            raise SsoError("the provider's logout token does not carry the logout event")
        if "nonce" in claims:
            raise SsoError("the provider's logout token carries a nonce: it is not one")
        subject, session_id = claims.get("sub"), claims.get("sid")
        if not subject and not session_id:
            raise SsoError("the provider's logout token names neither a subject nor a session")
        age = time.time() - claims["iat"]
        if "exp" not in claims and age > LOGOUT_TOKEN_MAX_AGE_S + CLOCK_SKEW_S:
            raise SsoError("the provider's logout token is too old")
        return ProviderLogout(
            issuer=claims["iss"],
            subject=str(subject) if subject else None,
            session_id=str(session_id) if session_id else None,
        )

    def front_channel_logout(self, issuer: str | None, session_id: str | None) -> ProviderLogout:
        """The provider session a front-channel logout names by its ``sid`` query parameter and,
        where sent, ``iss`` (Front-Channel Logout 1.0, 2; Entra ID sends ``sid`` alone, which
        names one session here as the dashboard trusts one provider). Nothing in such a request
        is signed, so it may end the dashboard sessions opened in that provider session (whose
        id only the provider and this server know), never every session of a person."""
        if not session_id:
            raise SsoError("a front-channel logout must name the provider's session (sid)")
        known = self._metadata_value("issuer")
        if issuer is not None and issuer != known:
            raise SsoError(f"the front-channel logout's iss {issuer!r} is not this provider")
        return ProviderLogout(issuer=known, subject=None, session_id=session_id)

    def end_session_url(self, id_token: str, post_logout_redirect_uri: str) -> str | None:
        """Where the browser ends the person's session at the provider (RP-Initiated Logout
        1.0) and comes back to ``post_logout_redirect_uri``; None when the provider publishes no
        end-session endpoint (Google's does not)."""
        endpoint = self._metadata().get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        query = {
            "id_token_hint": id_token,
            "client_id": self.settings.oidc_client_id,
            "post_logout_redirect_uri": post_logout_redirect_uri,
        }
        joiner = "&" if "?" in endpoint else "?"
        return f"{endpoint}{joiner}{urlencode(query)}"

    def _verified_claims(self, token: str, what: str, **required: dict) -> dict:
        """The claims of a token signed by the provider for this client (``iss``, ``aud``),
        checked against ``required`` (joserfc's claim options) and, where present, ``exp``."""
        try:
            decoded = jwt.decode(token, self._key_set(token), algorithms=SIGNING_ALGORITHMS)
            jwt.JWTClaimsRegistry(
                leeway=CLOCK_SKEW_S,
                iss={"essential": True, "value": self._metadata_value("issuer")},
                aud={"essential": True, "value": self.settings.oidc_client_id},
                **required,
            ).validate(decoded.claims)
        except JoseError as e:
            raise SsoError(f"the provider's {what} is not valid here: {e}") from e
        return decoded.claims

    def _key_set(self, token: str) -> KeySet:
        """The provider's keys, read again after ``METADATA_TTL_S``, or sooner (at most every
        ``KEY_REFRESH_S``) when the token names a key not among them: the provider rotated."""
        kid = _header(token).get("kid")
        with self._lock:
            keys, age = self._keys, time.monotonic() - self._keys_read_at
        unknown_kid = keys is not None and kid is not None and kid not in {k.kid for k in keys.keys}
        if keys is None or age > METADATA_TTL_S or (unknown_kid and age > KEY_REFRESH_S):
            keys = KeySet.import_key_set(self._request("GET", self._metadata_value("jwks_uri")))
            with self._lock:
                self._keys, self._keys_read_at = keys, time.monotonic()
        return keys

    def _metadata_value(self, name: str) -> str:
        """A field of the provider's metadata that the flow needs."""
        value = self._metadata().get(name)
        if not isinstance(value, str):
            raise SsoError(f"the provider's metadata has no {name}")
        return value

    def _metadata(self) -> dict:
        """The provider's metadata. Its ``issuer`` must be the setting's, give or take a
        trailing slash; the tokens' ``iss`` must then equal it exactly (some providers' issuers
        end in a slash)."""
        with self._lock:
            metadata, read_at = self._metadata_read, self._read_at
        if metadata is None or time.monotonic() - read_at > METADATA_TTL_S:
            metadata = self._request("GET", f"{self.issuer}/.well-known/openid-configuration")
            if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
                raise SsoError(
                    f"the provider at {self.issuer} names itself {metadata.get('issuer')!r}: "
                    "set TAGGER_OIDC_ISSUER to exactly its issuer"
                )
            with self._lock:
                self._metadata_read, self._read_at = metadata, time.monotonic()
        return metadata

    def _request(self, method: str, url: str, **kwargs) -> dict:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.HTTPError as e:
            raise SsoError(f"cannot reach the provider at {url}: {e}") from e
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or not isinstance(body, dict):
            detail = body.get("error_description") or body.get("error") if body else None
            raise SsoError(
                f"the provider answered {response.status_code} at {url}"
                + (f": {detail}" if detail else "")
            )
        return body


def _header(token: str) -> dict:
    try:
        encoded = token.split(".")[0]
        return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, IndexError) as e:
        raise SsoError("the provider's token is not a JWT") from e


def _username(claims: Mapping, claim: str) -> str:
    value = claims.get(claim)
    if claim == "email" and claims.get("email_verified") is False:
        raise SsoRefusedError("the provider has not verified this e-mail address")
    if not isinstance(value, str) or not value.strip():
        raise SsoRefusedError(
            f"the provider's ID token has no {claim!r} to name the account "
            "(TAGGER_OIDC_USERNAME_CLAIM; ask for the scope that carries it)"
        )
    name = value.strip()
    if len(name) > MAX_USERNAME_LENGTH or any(c.isspace() for c in name):
        raise SsoRefusedError(
            f"the provider's {claim!r} ({name[:80]!r}) cannot be an account name "
            f"(1-{MAX_USERNAME_LENGTH} characters without spaces)"
        )
    return name


def _groups(value: object) -> tuple[str, ...]:
    """Providers send a list of names; some a single string."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(group) for group in value)
    return ()


def sign_in(
    db: Database, identity: Identity, *, settings: Settings, now: datetime | None = None
) -> SessionToken:
    """Open a session for the account this identity signs in to (module docstring); raises
    :class:`SsoRefusedError` when it may not. Refusals are audited as ``login_failed``."""
    now = now or utcnow()
    try:
        mapping = role_map(settings)
        mapped = role_from_groups(identity.groups, mapping) if mapping else None
        if mapping and mapped is None:
            raise SsoRefusedError(
                f"{identity.username} is in none of the provider's groups that give a role here"
            )
        with db.session() as session:
            user_queries.lock_accounts(session)  # a role change passes the last-admin check
            user = _account(session, identity, mapped, settings)
            if user.disabled:
                raise SsoRefusedError(f"the account {user.username!r} is disabled")
            _follow_name(session, user, identity.username)
            if mapped is not None and mapped != user.role:
                _set_role(session, user, mapped)
            # the accounts' "last sign-in" (and the end of a password failure run)
            user_queries.record_login_attempt(
                session, username=user.username, success=True, created_at=now
            )
            return open_session(
                session,
                user,
                settings=settings,
                now=now,
                detail={"via": "sso"},
                sso_session=identity.session_key,
                sso_id_token=identity.id_token if settings.oidc_provider_signout else None,
            )
    except SsoRefusedError as e:
        with db.session() as session:
            audit_queries.add_audit(
                session,
                action=AuditAction.LOGIN_FAILED,
                username=identity.username,
                detail={"via": "sso", "reason": str(e)},
            )
        raise


def _account(session: Session, identity: Identity, mapped: str | None, settings: Settings) -> User:
    """The account bound to ``identity``, else bound now (an existing name) or made."""
    user = user_queries.get_user_by_sso_identity(session, identity=identity.key)
    if user is not None:
        return user
    user = user_queries.get_user_by_name(session, username=identity.username)
    if user is not None and user.sso_identity is not None:
        raise SsoRefusedError(
            f"the account {user.username!r} signs in as another identity of the provider"
        )
    if user is None:
        role = mapped or settings.oidc_new_account_role
        if role is not None and role not in ROLE_RANK:
            raise SsoError(
                f"TAGGER_OIDC_NEW_ACCOUNT_ROLE is {role!r}: expected one of {', '.join(ROLE_RANK)}"
            )
        if role is None:
            raise SsoRefusedError(
                f"no account {identity.username!r} here: an admin adds it first (or sets "
                "TAGGER_OIDC_ROLES or TAGGER_OIDC_NEW_ACCOUNT_ROLE)"
            )
        # no password: the account signs in through the provider until an admin resets one
        user = user_queries.create_user(
            session,
            username=identity.username,
            password_hash=hash_password(generate_password()),
            role=role,
        )
        audit_queries.add_audit(
            session,
            action=AuditAction.USER_ADDED,
            detail={"user_id": user.id, "username": user.username, "role": role, "via": "sso"},
        )
    user_queries.bind_sso_identity(session, user_id=user.id, identity=identity.key)
    audit_queries.add_audit(
        session,
        action=AuditAction.SSO_BOUND,
        user=user,
        detail={"user_id": user.id, "username": user.username, "identity": identity.key},
    )
    return user


def _follow_name(session: Session, user: User, username: str) -> None:
    """The provider names the person differently now (an e-mail changed there): the account
    takes that name, unless another account has it."""
    if username == user.username:
        return
    if user_queries.get_user_by_name(session, username=username) is not None:
        logger.warning(
            "the provider now names account %r %r, a name another account has here: it keeps "
            "its own",
            user.username,
            username,
        )
        return
    rename_in(session, user, username, by=None, via="sso")


def _set_role(session: Session, user: User, role: str) -> None:
    """The provider's groups decide the role; the last admin who can sign in keeps theirs
    (the provider would lock everyone out of the Accounts page), with a warning."""
    demoted = user.role == Role.ADMIN and role != Role.ADMIN
    if demoted and user_queries.count_users(session, role=Role.ADMIN, disabled=False) <= 1:
        logger.warning(
            "the provider's groups make %r %s, but it is the only admin who can sign in: "
            "it stays admin until another account is",
            user.username,
            role,
        )
        return
    change_role_in(session, user, role, by=None, via="sso")


def unbind(db: Database, *, username: str, by: Actor | None = None) -> bool:
    """Forget the identity bound to an account (audited as ``sso_unbound``); the account's next
    sign-in through the provider binds whichever identity its username claim names. For a person
    whose account at the provider was made again (a new subject): until then they are refused
    as "another identity". False when none was bound."""
    with db.session() as session:
        user = existing_user(session, username)
        if user.sso_identity is None:
            return False
        identity = user.sso_identity
        user_queries.bind_sso_identity(session, user_id=user.id, identity=None)
        audit_queries.add_audit(
            session,
            action=AuditAction.SSO_UNBOUND,
            user=by,
            detail={"user_id": user.id, "username": user.username, "identity": identity},
        )
        return True


def end_provider_sessions(
    db: Database, logout: ProviderLogout, *, now: datetime | None = None
) -> int:
    """End the dashboard sessions a back- or front-channel logout names: those opened in the
    provider's session ``sid``; with only a ``sub``, every session of the account bound to it
    (its password sessions too: the provider says this person is signed out). Audited as
    ``logout`` per account; returns how many sessions ended (0 for a person unknown here)."""
    now = now or utcnow()
    with db.session() as session:
        user_id = None
        if logout.subject is not None:
            identity = f"{logout.issuer} {logout.subject}"
            user = user_queries.get_user_by_sso_identity(session, identity=identity)
            if user is None:
                return 0
            user_id = user.id
        ended = user_queries.live_provider_sessions(
            session,
            now=now,
            sso_session=provider_session_key(logout.issuer, logout.session_id),
            user_id=user_id,
        )
        user_queries.revoke_user_sessions(session, token_hashes=[row.token_hash for row in ended])
        for account, sessions in Counter(row.user_id for row in ended).items():
            audit_queries.add_audit(
                session,
                action=AuditAction.LOGOUT,
                user=session.get(User, account),
                detail={"via": "provider", "sessions": sessions},
            )
        return len(ended)
