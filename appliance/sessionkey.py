"""The rule for the key that signs web sessions (HC_SECRET_KEY).

Outside development every process that serves the web refuses to start with a
key that is short, guessable (a known default, few distinct symbols, a repeated
pattern) or the development fallback. Processes that do not serve the web (the
agents) neither need nor receive the key.
"""
from __future__ import annotations

import collections
import math

MIN_LENGTH = 32          # characters
MIN_BITS = 128           # estimated: Shannon entropy of the characters times the length
MIN_DISTINCT_TRIGRAMS = 0.75  # share of distinct 3-character pieces: no repeated patterns
DEVELOPMENT_KEY = "development-only"   # only ever used with HC_DEV=1
# Keys seen in examples, tutorials and earlier versions: never accepted.
KNOWN_KEYS = frozenset({DEVELOPMENT_KEY, "changeme", "change-me", "secret", "secret-key",
                        "dev", "development", "supersecret", "your-secret-key", "hc-secret-key",
                        "ci-secret-key-0123456789abcdef", "0123456789abcdef" * 4,
                        "please-change-this-secret-key-in-production"})
HOW_TO_MAKE = ("make one with `python3 -c 'import secrets; print(secrets.token_hex(32))'` "
               "or `openssl rand -hex 32`")


def estimated_bits(key: str) -> float:
    """Shannon entropy of the key's characters times its length (an upper bound
    on what a key of that text can hold; a weak key scores low)."""
    if not key:
        return 0.0
    counts = collections.Counter(key)
    per_char = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    return per_char * len(key)


def problem(key: str) -> str | None:
    """Why `key` may not sign sessions outside development, or None if it may."""
    if not key:
        return f"HC_SECRET_KEY must be set; {HOW_TO_MAKE}"
    if key.strip().lower() in KNOWN_KEYS or key in KNOWN_KEYS:
        return f"HC_SECRET_KEY is a published example or default key; {HOW_TO_MAKE}"
    if len(key) < MIN_LENGTH:
        return (f"HC_SECRET_KEY is too short ({len(key)} characters, at least {MIN_LENGTH}); "
                f"{HOW_TO_MAKE}")
    trigrams = {key[i:i + 3] for i in range(len(key) - 2)}
    if estimated_bits(key) < MIN_BITS or len(trigrams) < MIN_DISTINCT_TRIGRAMS * (len(key) - 2):
        return f"HC_SECRET_KEY is too predictable (repeated or few distinct characters); " \
               f"{HOW_TO_MAKE}"
    return None


def signing_key(secret_key: str, development: bool) -> str:
    """The key to sign sessions with: the configured one, the development
    fallback only in development; raise KeyRefused otherwise."""
    if development:
        return secret_key or DEVELOPMENT_KEY
    refusal = problem(secret_key)
    if refusal:
        raise KeyRefused(f"web start refused (HC_DEV=0): {refusal}")
    return secret_key


class KeyRefused(RuntimeError):
    """The web may not start with this key; the message says how to make a good one."""
