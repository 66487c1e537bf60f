"""Security headers on every reply of the web UI and the API.

No script runs but the appliance's own files (no inline script, no eval); the
pages cannot be framed by another site; links to other sites carry no path of
ours; no reply is content-sniffed into something renderable. Styles may be
inline: the SVG charts carry their own <style>.
"""
from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
    "frame-ancestors 'none'"])
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def install(app: Flask) -> None:
    @app.after_request
    def _secure(reply: Response) -> Response:
        for name, value in HEADERS.items():
            reply.headers.setdefault(name, value)
        if reply.headers.get("Content-Disposition", "").startswith("attachment"):
            reply.headers["Content-Type"] = "application/octet-stream"
        return reply
