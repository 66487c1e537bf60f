"""Security headers on every reply of the web UI and the API.

No script runs but the appliance's own files (no inline script, no eval); the
pages cannot be framed by another site; links to other sites carry no path of
ours; no reply is content-sniffed into something renderable. Styles may be
inline: the SVG charts carry their own <style>.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response


def content_security_policy(form_targets: tuple[str, ...] = ()) -> str:
    """`form_targets`: other origins a form may lead to. Browsers apply form-action to
    the redirects after a form, too: logging out through the single sign-on provider
    (a POST answered by a redirect to its end-session page) needs its origin here."""
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:", "object-src 'none'", "base-uri 'none'",
        " ".join(["form-action 'self'", *form_targets]), "frame-ancestors 'none'"])


CONTENT_SECURITY_POLICY = content_security_policy()
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def install(app: Flask) -> None:
    issuer = urlsplit(app.config["HC"].oidc_issuer or "")
    targets = (f"{issuer.scheme}://{issuer.netloc}",) if issuer.scheme and issuer.netloc else ()
    headers = {"Content-Security-Policy": content_security_policy(targets)} | HEADERS

    @app.after_request
    def _secure(reply: Response) -> Response:
        for name, value in headers.items():
            reply.headers.setdefault(name, value)
        if reply.headers.get("Content-Disposition", "").startswith("attachment"):
            reply.headers["Content-Type"] = "application/octet-stream"
        return reply
