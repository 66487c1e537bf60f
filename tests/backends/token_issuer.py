"""A WLCG token issuer of our own for the CE: an HTTPS server publishing its
OpenID metadata and signing keys (JWKS), and RS256 tokens signed with that key.

A-REX fetches the keys with a TLS client that trusts only the machine's grid CA
folder (/etc/grid-security/certificates), not the CE's x509_cert_dir: so the
issuer serves the host certificate the ARC packages' own test CA made at install
(read, never changed), under the host name it was made for."""
from __future__ import annotations

import base64
import http.server
import json
import os
import socket
import ssl
import threading
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.conftest import free_port, require

HOST_CERT = "/etc/grid-security/testCA-hostcert.pem"
HOST_KEY = "/etc/grid-security/testCA-hostkey.pem"
SCOPES = "compute.create compute.read compute.modify compute.cancel"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _number(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _host_name(path: str) -> str:
    from cryptography import x509
    with open(path, "rb") as handle:
        certificate = x509.load_pem_x509_certificate(handle.read())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return names.value.get_values_for_type(x509.DNSName)[0]


class TokenIssuer:
    def __init__(self):
        if not (os.path.exists(HOST_CERT) and os.access(HOST_KEY, os.R_OK)):
            require("ARC", f"no ARC test CA host certificate at {HOST_CERT} (made when "
                    "nordugrid-arc-arcctl-service is installed)")
        self.host = _host_name(HOST_CERT)
        if socket.gethostbyname(self.host) != "127.0.0.1":
            require("ARC", f"the ARC test CA host certificate names {self.host}, which is "
                    "not this machine's 127.0.0.1")
        self.port = free_port()
        self.url = f"https://{self.host}:{self.port}"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        self.jwks = {"keys": [{"kty": "RSA", "kid": "hc", "use": "sig", "alg": "RS256",
                               "n": _number(numbers.n), "e": _number(numbers.e)}]}
        self.metadata = {"issuer": self.url, "jwks_uri": self.url + "/jwks",
                         "id_token_signing_alg_values_supported": ["RS256"]}

    def start(self) -> TokenIssuer:
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                document = issuer.metadata if "well-known" in self.path else issuer.jwks
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(HOST_CERT, HOST_KEY)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def token(self, lifetime: float = 3600, subject: str = "hc-robot") -> str:
        now = int(time.time())
        header = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "hc"}).encode())
        claims = _b64(json.dumps({"iss": self.url, "sub": subject, "aud": "https://localhost",
                                  "iat": now, "nbf": now, "exp": int(now + lifetime),
                                  "scope": SCOPES, "wlcg.ver": "1.0"}).encode())
        signature = self.key.sign(f"{header}.{claims}".encode(), padding.PKCS1v15(),
                                  hashes.SHA256())
        return f"{header}.{claims}.{_b64(signature)}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
