"""Bearer tokens (WLCG JWTs): their claims, read without verifying the signature.

The appliance does not hold the issuer's keys and does not need them: the site
verifies the token. What the appliance needs is when it expires, who issued it
and for whom, to warn and to stop using it in time.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass


class TokenError(ValueError):
    """The text is not a usable JWT; the message says why."""


@dataclass(frozen=True)
class Claims:
    issuer: str
    subject: str
    expires_at: float
    issued_at: float | None
    not_before: float | None
    scope: str


def read_claims(token: str) -> Claims:
    """The claims of a compact JWT (header.payload.signature)."""
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise TokenError("a JWT has three dot-separated parts")
    payload = _decode(parts[1])
    if not isinstance(payload, dict):
        raise TokenError("the JWT payload is not a JSON object")
    expiry = payload.get("exp")
    if not _is_time(expiry):
        raise TokenError("the JWT has no expiry (exp claim): refusing a token that never ends")
    return Claims(issuer=str(payload.get("iss", "")), subject=str(payload.get("sub", "")),
                  expires_at=float(expiry),
                  issued_at=float(payload["iat"]) if _is_time(payload.get("iat")) else None,
                  not_before=float(payload["nbf"]) if _is_time(payload.get("nbf")) else None,
                  scope=str(payload.get("scope", "")))


def _decode(part: str):
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise TokenError("the JWT payload is not base64url-encoded JSON") from None


def _is_time(value) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and 0 <= value < 2**40)
