"""Container image references and the registry HTTP API v2: a tag becomes a digest.

A test that names an image in a registry (`REGISTRY/NAME:TAG`) runs one exact
image: the tag is resolved once, when the test is created, with a manifest HEAD
request, and the test keeps `REGISTRY/NAME@sha256:...` (the registry's
Docker-Content-Digest). Images without a registry part (`hc-base/python:3.11`)
are local to the Docker host and are left alone.

Credentials come from files in the format of Docker's `config.json`
(`{"auths": {"HOST:PORT": {"auth": base64("user:password")}}}`), the one podman
reads with `--authfile` too: one for the instance (HC_REGISTRY_AUTH_FILE) and one
per site (the site setting `registry_auth_file`). Only the file's path is ever
stored or shown; no message here contains a credential.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from appliance.errors import BadInput

# What a manifest HEAD accepts: the registry answers with the digest of the
# manifest (or index) it holds, whichever of these it is.
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
TIMEOUT = 10.0  # seconds for one registry request
MAX_REFERENCE = 255  # characters; Docker's own limit on a repository name

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class BadReference(BadInput):
    """Not an image reference; the message says which part is wrong."""


class RegistryError(Exception):
    """The registry could not answer; the message gives its reason (never credentials)."""


class ImageRefused(BadInput):
    """A test cannot be created with this image (bad name, tag not resolvable)."""


@dataclass(frozen=True)
class Reference:
    registry: str | None   # HOST[:PORT], None for an image of the local Docker host
    repository: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}" if self.registry else self.repository
        text += f":{self.tag}" if self.tag else ""
        return text + (f"@{self.digest}" if self.digest else "")

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def pinned(self, digest: str) -> Reference:
        """The same image by digest only (the tag no longer matters)."""
        return Reference(self.registry, self.repository, None, digest)


def parse_reference(text: str) -> Reference:
    """`[HOST[:PORT]/]NAME[:TAG][@sha256:HEX]` -> Reference. A first part with a
    dot or a port, or `localhost`, is a registry (Docker's rule)."""
    if not isinstance(text, str) or not text or len(text) > MAX_REFERENCE:
        raise BadReference(f"an image reference is 1 to {MAX_REFERENCE} characters")
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise BadReference(f"{text!r}: the digest must be sha256: and 64 hex digits")
    registry = None
    first, slash, after = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        if not _HOST.fullmatch(first):
            raise BadReference(f"{text!r}: {first!r} is not a registry host[:port]")
        registry, rest = first, after
    name, colon, tag = rest.rpartition(":") if ":" in rest else (rest, "", "")
    if colon and not _TAG.fullmatch(tag):
        raise BadReference(f"{text!r}: the tag {tag!r} is not valid (letters, digits, _ . -)")
    if not _REPOSITORY.fullmatch(name):
        raise BadReference(f"{text!r}: the name {name!r} is not valid (lower case letters, "
                           "digits and separators, parts joined by /)")
    return Reference(registry, name, tag or None, digest or None)


def load_credentials(path: str | None) -> dict[str, tuple[str, str]]:
    """{registry host: (user, password)} from a config.json-style file; {} without one."""
    if not path:
        return {}
    try:
        with open(path) as handle:
            document = json.load(handle)
        found = {}
        for host, entry in (document.get("auths") or {}).items():
            if entry.get("auth"):
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            elif "username" in entry:
                user, password = entry["username"], entry["password"]
            else:  # kept by a credential helper (credsStore): not ours to read
                continue
            found[_bare_host(host)] = (user, password)
        return found
    except OSError as error:
        raise RegistryError(f"registry credentials {path}: {error.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise RegistryError(f"registry credentials {path}: not a config.json with "
                            "auths: {HOST: {auth: base64(user:password)}}") from None


def _bare_host(host: str) -> str:
    return urllib.parse.urlsplit(host).netloc if "//" in host else host.rstrip("/")


def instance_auth_file(environ=os.environ) -> str | None:
    return environ.get("HC_REGISTRY_AUTH_FILE") or None


def base_url(registry: str) -> str:
    """Plain HTTP for a registry on the loopback (Docker also trusts those without
    TLS), HTTPS for every other."""
    host = registry.rsplit(":", 1)[0] if not registry.endswith("]") else registry
    loopback = host == "localhost" or host.startswith("127.")
    return f"{'http' if loopback else 'https'}://{registry}"


def resolve(reference: Reference, auth_file: str | None = None,
            timeout: float = TIMEOUT) -> str:
    """The digest the registry holds for `reference`'s tag (or its digest, checked)."""
    if reference.registry is None:
        raise RegistryError(f"{reference}: names no registry; a local image has no digest "
                            "to resolve")
    credentials = load_credentials(auth_file).get(reference.registry)
    wanted = reference.digest or reference.tag or "latest"
    url = f"{base_url(reference.registry)}/v2/{reference.repository}/manifests/{wanted}"
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    response = _request(url, "HEAD", headers, credentials, timeout, reference)
    digest = response.headers.get("Docker-Content-Digest")
    if not digest:  # allowed by the spec on HEAD: the digest of the body then
        body = _request(url, "GET", headers, credentials, timeout, reference).read()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if not _DIGEST.fullmatch(digest):
        raise RegistryError(f"{reference}: the registry answered an unusable digest")
    return digest


def pin(text: str, auth_file: str | None = None) -> tuple[str, str | None]:
    """(the image to run, its digest) for an image named by a user: a registry
    image by tag becomes REGISTRY/NAME@DIGEST; one given by digest is already
    exact (the registry is asked when a job pulls it); a local image stays."""
    reference = parse_reference(text)
    if reference.registry is None or reference.digest:
        return (str(reference.pinned(reference.digest)) if reference.registry else text,
                reference.digest)
    digest = resolve(reference, auth_file)
    return str(reference.pinned(digest)), digest


def pin_for_test(text: str | None) -> str | None:
    """The image a new test runs: `pin` with the instance's credentials; any
    problem becomes ImageRefused (bad input: the test is not created)."""
    if not text:
        return text
    try:
        return pin(text, instance_auth_file())[0]
    except (BadReference, RegistryError) as error:
        raise ImageRefused(f"image {text}: {error}") from None


def _request(url, method, headers, credentials, timeout, reference, token=None):
    headers = dict(headers)
    if token:
        headers["Authorization"] = token
    try:
        return urllib.request.urlopen(urllib.request.Request(url, method=method,
                                                             headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 401 and token is None:
            challenge = error.headers.get("WWW-Authenticate", "")
            token = _authorization(challenge, credentials, timeout, reference)
            return _request(url, method, headers, credentials, timeout, reference, token)
        raise RegistryError(_http_reason(error, reference)) from None
    except urllib.error.URLError as error:
        raise RegistryError(f"registry {reference.registry} not reachable: "
                            f"{getattr(error.reason, 'strerror', None) or error.reason}") from None
    except (OSError, ValueError) as error:
        raise RegistryError(f"registry {reference.registry} not reachable: {error}") from None


def _authorization(challenge: str, credentials, timeout, reference) -> str:
    """The Authorization header answering a 401: Basic, or a Bearer token got
    from the realm the registry names (the token flow of the registry API)."""
    scheme, _, rest = challenge.partition(" ")
    basic = ("Basic " + base64.b64encode(":".join(credentials).encode()).decode()
             if credentials else None)
    if scheme.lower() == "basic":
        if basic is None:
            raise RegistryError(f"registry {reference.registry} needs credentials and none "
                                "are configured for it")
        return basic
    fields = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    if scheme.lower() != "bearer" or "realm" not in fields:
        raise RegistryError(f"registry {reference.registry}: unsupported authentication")
    query = {k: fields[k] for k in ("service", "scope") if k in fields}
    query.setdefault("scope", f"repository:{reference.repository}:pull")
    request = urllib.request.Request(fields["realm"] + "?" + urllib.parse.urlencode(query),
                                     headers={"Authorization": basic} if basic else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            document = json.load(answer)
    except urllib.error.HTTPError as error:
        raise RegistryError(f"registry {reference.registry}: token refused "
                            f"(HTTP {error.code})") from None
    except (OSError, ValueError) as error:
        raise RegistryError(f"registry {reference.registry}: no token: {error}") from None
    token = document.get("token") or document.get("access_token")
    if not isinstance(token, str):
        raise RegistryError(f"registry {reference.registry}: the token service sent no token")
    return "Bearer " + token


def _http_reason(error: urllib.error.HTTPError, reference: Reference) -> str:
    if error.code == 404:
        return f"{reference}: not found in registry {reference.registry} (manifest unknown)"
    if error.code == 401:
        return f"registry {reference.registry} refused the credentials (HTTP 401)"
    if error.code == 403:
        return f"registry {reference.registry} denies access to {reference.repository}"
    detail = ""
    try:  # the registry's own error list: [{"code", "message"}]
        errors = json.loads(error.read() or b"{}").get("errors") or []
        detail = "; ".join(str(e.get("message", e.get("code", ""))) for e in errors)[:200]
    except (ValueError, AttributeError, OSError):
        pass
    return f"registry {reference.registry} answered HTTP {error.code}" + (
        f": {detail}" if detail else "")
