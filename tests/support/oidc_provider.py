"""A loopback OpenID Connect provider for the single sign-on tests: the endpoints a real one
serves (metadata, authorize, token, keys), checking what a real one checks of the client (its
secret, the redirect URI, the PKCE verifier, one use per code), and signing ID tokens with a key
of its own. A test sets who signs in (``claims``) and can make it refuse, rotate its key, or
tamper with the token (``token_changes``, ``forge_with``). Its end-session endpoint (RP-Initiated
Logout) checks the ID token hint and sends the browser back; :meth:`FakeProvider.logout_token`
signs what its back-channel logout would post."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "tagger-dashboard"
# How often serve_forever looks for a shutdown: its default 0.5 s was spent in every teardown.
POLL_S = 0.02
CLIENT_SECRET = "provider-secret"


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256"}, private=True)


class FakeProvider:
    """Serves on 127.0.0.1 from construction until :meth:`close`."""

    def __init__(self) -> None:
        self.key = new_key("key-1")
        self.claims: dict = {"sub": "subject-1", "email": "ann@example.com", "groups": []}
        self.deny: str | None = None  # an OAuth error code /authorize answers with
        self.token_changes: dict = {}  # claims to overwrite in the next ID tokens (tampering)
        self.forge_with: RSAKey | None = None  # sign with a key the provider does not publish
        self.named: str | None = None  # its issuer (metadata, tokens), if not its own address
        self.end_session = True  # publishes an end-session endpoint (Google's metadata has none)
        self.ended: list[dict[str, str]] = []  # the queries of its end-session endpoint
        self.codes: dict[str, dict] = {}
        self.requests: list[str] = []  # "METHOD path" of every request, in order
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider._handle(self, "GET")

            def do_POST(self) -> None:
                provider._handle(self, "POST")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(POLL_S,), daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def rotate_key(self) -> None:
        self.key = new_key(f"key-{secrets.token_hex(4)}")

    def logout_token(self, **claims) -> str:
        """A back-channel logout token for this client (``sub`` and/or ``sid`` in ``claims``,
        which may also overwrite or, with None, leave out any standard claim)."""
        standard = {
            "jti": secrets.token_hex(8),
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }
        return self._signed(standard | claims, lifetime_s=120, typ="logout+jwt")

    def _signed(self, claims: dict, *, lifetime_s: int, typ: str | None = None) -> str:
        """A JWT of this provider for this client: its issuer, audience and times overlaid by
        ``claims`` (a claim set to None is left out), signed with ``forge_with`` or its key."""
        now = int(time.time())
        base = {"iss": self.named or self.issuer, "aud": CLIENT_ID, "iat": now}
        merged = base | {"exp": now + lifetime_s} | claims
        key = self.forge_with or self.key
        header = {"alg": "RS256", "kid": key.kid} | ({"typ": typ} if typ else {})
        return jwt.encode(header, {k: v for k, v in merged.items() if v is not None}, key)

    def approve(self, authorize_url: str) -> str:
        """What a browser at the provider's sign-in page ends with: the redirect back
        (``Location`` of /authorize's answer), for the person in ``claims``."""
        import httpx

        response = httpx.get(authorize_url, follow_redirects=False)
        assert response.status_code == 302, response.text
        return response.headers["location"]

    # --- the endpoints ---------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(request.path)
        self.requests.append(f"{method} {url.path}")
        if method == "GET" and url.path == "/.well-known/openid-configuration":
            self._json(request, 200, self._metadata())
        elif method == "GET" and url.path == "/jwks":
            self._json(request, 200, {"keys": [self.key.as_dict(private=False)]})
        elif method == "GET" and url.path == "/end-session" and self.end_session:
            self._end_session(request, {k: v[0] for k, v in parse_qs(url.query).items()})
        elif method == "GET" and url.path == "/authorize":
            self._authorize(request, {k: v[0] for k, v in parse_qs(url.query).items()})
        elif method == "POST" and url.path == "/token":
            length = int(request.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(request.rfile.read(length).decode()).items()}
            self._token(request, form)
        else:
            self._json(request, 404, {"error": "not_found"})

    def _metadata(self) -> dict:
        end_session = {"end_session_endpoint": f"{self.issuer}/end-session"}
        return {
            **(end_session if self.end_session else {}),
            "issuer": self.named or self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def _authorize(self, request: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            self._json(request, 400, {"error": "invalid_request"})
            return
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            self._json(request, 400, {"error": "invalid_request", "error_description": "PKCE"})
            return
        back = {"state": query.get("state", "")}
        if self.deny:
            back |= {"error": self.deny, "error_description": "The user said no"}
        else:
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "nonce": query.get("nonce"),
                "challenge": query["code_challenge"],
                "redirect_uri": query["redirect_uri"],
            }
            back["code"] = code
        request.send_response(302)
        request.send_header("Location", f"{query['redirect_uri']}?{urlencode(back)}")
        request.end_headers()

    def _token(self, request: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            self._json(request, 401, {"error": "invalid_client"})
            return
        grant = self.codes.pop(form.get("code", ""), None)  # a code is good once
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if (
            grant is None
            or grant["redirect_uri"] != form.get("redirect_uri")
            or challenge.decode().rstrip("=") != grant["challenge"]
        ):
            self._json(request, 400, {"error": "invalid_grant", "error_description": "bad code"})
            return
        claims = {"nonce": grant["nonce"], **self.claims, **self.token_changes}
        id_token = self._signed(claims, lifetime_s=300)
        answer = {"access_token": "at", "token_type": "Bearer", "id_token": id_token}
        self._json(request, 200, answer)

    def _end_session(self, request: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        """Ends the person's session (recorded) when the hint is an ID token it signed for this
        client, and sends the browser back to ``post_logout_redirect_uri``."""
        try:
            hint = jwt.decode(query.get("id_token_hint", ""), self.key)
        except ValueError:
            self._json(request, 400, {"error": "invalid_request", "error_description": "hint"})
            return
        if hint.claims.get("aud") != CLIENT_ID or query.get("client_id") != CLIENT_ID:
            self._json(request, 400, {"error": "invalid_request", "error_description": "client"})
            return
        self.ended.append(query)
        request.send_response(302)
        request.send_header("Location", query["post_logout_redirect_uri"])
        request.end_headers()

    @staticmethod
    def _json(request: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
