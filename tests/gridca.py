"""A test certificate authority and user certificates, made with `cryptography`
(the ARC fixture uses ARC's own `arcctl test-ca` instead), and unsigned JWTs."""
from __future__ import annotations

import base64
import datetime
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HC Test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def user_certificate(now: float, days: float = 30, name: str = "HC Robot"
                     ) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of a user issued by a fresh CA, valid from `now`."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = datetime.datetime.fromtimestamp(now - 60, datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(_name(name))
                   .issuer_name(_name("HC Test CA")).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(start)
                   .not_valid_after(start + datetime.timedelta(days=days, seconds=60))
                   .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"
