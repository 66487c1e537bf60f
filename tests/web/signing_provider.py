"""An OpenID Provider whose ID tokens the test shapes, on 127.0.0.1.

It speaks the real protocol (discovery, the authorization code flow with a PKCE
check, JWKS, userinfo, an end_session_endpoint) so that the appliance's client runs
unchanged, but each ID token is made from what the test asks for: any audience,
issuer, expiry or nonce, signed with the published key or with one it never
published. The browser test runs against a real provider (tests/web/oidc/); this
one exists to hand the appliance tokens a good provider would never send.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID, CLIENT_SECRET = "hc-appliance", "a-client-secret-only-tests-know"


class SigningProvider:
    """Set `claims` (the user), `changes` (claims of the next ID tokens: None deletes
    one), `sign_with` (a key), `end_session` (offer RP-initiated logout) as needed."""

    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.unpublished_key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.sign_with = self.key
        self.claims = {"sub": "subject-1", "preferred_username": "ada", "groups": ["hc-admins"]}
        self.changes: dict = {}
        self.userinfo_changes: dict = {}
        self.end_session = True
        self.authorize_requests: list[dict] = []
        self._codes: dict[str, dict] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def discovery(self) -> dict:
        document = {"issuer": self.issuer, "authorization_endpoint": self.issuer + "/authorize",
                    "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks",
                    "userinfo_endpoint": self.issuer + "/userinfo",
                    "response_types_supported": ["code"], "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"]}
        if self.end_session:
            document["end_session_endpoint"] = self.issuer + "/logout"
        return document

    def authorize(self, query: dict) -> tuple[int, dict]:
        self.authorize_requests.append(query)
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code" \
                or query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, {}
        code = secrets.token_urlsafe(16)
        self._codes[code] = query
        return 302, {"Location": query["redirect_uri"] + "?" + urlencode(
            {"code": code, "state": query["state"]})}

    def token(self, form: dict, authorization: str) -> tuple[int, dict]:
        sent = base64.b64decode(authorization.removeprefix("Basic ")).decode()
        request = self._codes.pop(form.get("code", ""), None)
        if sent != f"{CLIENT_ID}:{CLIENT_SECRET}" or request is None \
                or form.get("redirect_uri") != request["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if challenge.decode() != request["code_challenge"]:  # PKCE (RFC 7636, 4.6)
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier"}
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                  "nonce": request.get("nonce")} | self.claims | self.changes
        claims = {k: v for k, v in claims.items() if v is not None}
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.sign_with)
        return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                     "expires_in": 300, "id_token": id_token}

    def userinfo(self) -> dict:
        return {k: v for k, v in (self.claims | self.userinfo_changes).items() if v is not None}


def _handler(provider: SigningProvider):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif url.path == "/jwks":
                self._json(200, {"keys": [provider.key.as_dict(private=False)]})
            elif url.path == "/authorize":
                status, headers = provider.authorize(query)
                self._json(status, {}, headers)
            elif url.path == "/userinfo":
                self._json(200, provider.userinfo())
            else:
                self._json(404, {})

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
            if urlsplit(self.path).path == "/token":
                self._json(*provider.token(form, self.headers.get("Authorization", "")))
            else:
                self._json(404, {})

        def _json(self, status: int, body: dict, headers: dict | None = None):
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # quiet
            pass
    return Handler
