"""X.509 for grid sites: RFC 3820 proxy certificates made from a user or robot
certificate, and delegations signed for a compute element.

A proxy file holds, in this order, the proxy certificate, its private key and
the certificates that issued it (the user certificate, then any further chain):
what grid clients and A-REX expect as X509_USER_PROXY. Pure functions of bytes
and a clock; files are written by appliance/credentials.py.
"""
from __future__ import annotations

import base64
import datetime
import re
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

PROXY_KEY_BITS = 2048
# ProxyCertInfo ::= SEQUENCE { proxyPolicy SEQUENCE { id-ppl-inheritAll } } (RFC 3820 3.8)
PROXY_CERT_INFO_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
INHERIT_ALL = bytes.fromhex("300C300A06082B06010505071501")
BACKDATE = datetime.timedelta(minutes=5)  # clock skew between us and the CE
_CERT_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)
_KEY_BLOCK = re.compile(rb"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----.*?"
                        rb"-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----", re.S)


class CertificateError(ValueError):
    """The certificate or key material cannot be used; the message says why."""


@dataclass(frozen=True)
class Identity:
    """A certificate (first of `chain`) with its private key."""
    chain: tuple[x509.Certificate, ...]
    key: object

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]


def load_identity(cert_pem: bytes, key_pem: bytes | None = None,
                  password: bytes | None = None) -> Identity:
    """Certificates and key from PEM; the key may sit in the certificate file."""
    blocks = _CERT_BLOCK.findall(cert_pem)
    if not blocks:
        raise CertificateError("no PEM certificate found")
    try:
        chain = tuple(x509.load_pem_x509_certificate(block) for block in blocks)
    except ValueError as error:
        raise CertificateError(f"unreadable certificate: {error}") from None
    key_blocks = _KEY_BLOCK.findall(key_pem if key_pem is not None else cert_pem)
    if not key_blocks:
        raise CertificateError("no PEM private key found")
    try:
        key = serialization.load_pem_private_key(key_blocks[0], password=password)
    except (ValueError, TypeError) as error:
        raise CertificateError(f"unreadable private key: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateError("only RSA keys are supported for proxies")
    if key.public_key().public_numbers() != chain[0].public_key().public_numbers():
        raise CertificateError("the private key does not belong to the certificate")
    return Identity(chain, key)


def subject(certificate: x509.Certificate) -> str:
    """The DN in the grid's slash form: /DC=org/DC=nordugrid/O=TestCA/CN=User."""
    return "".join(f"/{_short(a.oid)}={a.value}" for a in certificate.subject)


def issuer(certificate: x509.Certificate) -> str:
    return "".join(f"/{_short(a.oid)}={a.value}" for a in certificate.issuer)


def _short(oid: x509.ObjectIdentifier) -> str:
    return {NameOID.DOMAIN_COMPONENT: "DC", NameOID.COMMON_NAME: "CN",
            NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
            NameOID.COUNTRY_NAME: "C", NameOID.LOCALITY_NAME: "L",
            NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.EMAIL_ADDRESS: "emailAddress"
            }.get(oid, oid.dotted_string)


def not_before(certificate: x509.Certificate) -> float:
    return certificate.not_valid_before_utc.timestamp()


def not_after(certificate: x509.Certificate) -> float:
    return certificate.not_valid_after_utc.timestamp()


def make_proxy(identity: Identity, lifetime: float, now: float) -> bytes:
    """A fresh RFC 3820 proxy of `identity` valid for `lifetime` seconds from `now`
    (never beyond the identity's own expiry), as a proxy file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=PROXY_KEY_BITS)
    certificate = _sign_proxy(identity, key.public_key(), now, now + lifetime)
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return _pem(certificate) + key_pem + b"".join(_pem(c) for c in identity.chain)


def sign_delegation(identity: Identity, csr_pem: bytes, now: float) -> bytes:
    """Sign the CE's delegation request with `identity` (usually a proxy): the CE
    gets a proxy for its own key, valid as long as ours."""
    public_key = _csr_public_key(csr_pem)
    certificate = _sign_proxy(identity, public_key, now, not_after(identity.certificate))
    return _pem(certificate) + b"".join(_pem(c) for c in identity.chain)


def _sign_proxy(identity: Identity, public_key, start: float, end: float) -> x509.Certificate:
    end = min(end, not_after(identity.certificate))
    serial = secrets.randbelow(2**31 - 1) + 1
    name = x509.Name(list(identity.certificate.subject)
                     + [x509.NameAttribute(NameOID.COMMON_NAME, str(serial))])
    moment = datetime.datetime.fromtimestamp
    utc = datetime.UTC
    builder = (x509.CertificateBuilder()
               .subject_name(name).issuer_name(identity.certificate.subject)
               .public_key(public_key).serial_number(serial)
               .not_valid_before(max(moment(start, utc) - BACKDATE,
                                     identity.certificate.not_valid_before_utc))
               .not_valid_after(moment(end, utc))
               .add_extension(x509.KeyUsage(True, False, True, False, False, False, False,
                                            False, False), critical=True)
               .add_extension(x509.UnrecognizedExtension(PROXY_CERT_INFO_OID, INHERIT_ALL),
                              critical=True))
    return builder.sign(identity.key, hashes.SHA256())


def _csr_public_key(csr_pem: bytes):
    """The SubjectPublicKeyInfo of a PKCS#10 request, read from the DER by hand:
    A-REX 6 writes version 2 into its requests, which `cryptography` refuses."""
    body = b"".join(line for line in csr_pem.splitlines()
                    if line.strip() and not line.startswith(b"-----"))
    try:
        der = base64.b64decode(body, validate=False)
        _, content, _ = _tlv(der, 0)        # CertificationRequest
        _, info, _ = _tlv(der, content)     # CertificationRequestInfo
        _, _, after_version = _tlv(der, info)
        _, _, after_subject = _tlv(der, after_version)
        _, _, after_key = _tlv(der, after_subject)
        return serialization.load_der_public_key(der[after_subject:after_key])
    except (ValueError, IndexError, TypeError, UnsupportedAlgorithm) as error:
        raise CertificateError(f"unreadable delegation request: {error}") from None


def _tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end) of the DER element at `offset`."""
    tag, length = data[offset], data[offset + 1]
    header = 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[offset + 2:offset + 2 + count], "big")
        header += count
    if offset + header + length > len(data):
        raise ValueError("truncated DER")
    return tag, offset + header, offset + header + length


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)
