"""Finding 7: hc run's HTML report escapes what the instance sent, and its
bearer token never follows a redirect to another origin."""
from __future__ import annotations

import http.server
import threading

import pytest

from appliance.ci.remote import RemoteSource
from appliance.ci.report import html_report
from appliance.ci.results import RunResult
from appliance.ci.sources import InfrastructureError

HOSTILE = '</title><script>alert(1)</script>'


def test_report_escapes_the_test_id_an_instance_sent():
    result = RunResult(test_id=HOSTILE, state="completed", state_reason="ok", template="t",
                       start_at=1.7e9, end_at=1.7e9 + 60, sites=[])
    page = html_report(result, [], 0)
    assert "<script>" not in page and "&lt;script&gt;" in page


def _server(handler) -> tuple[http.server.HTTPServer, str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_token_does_not_follow_a_redirect_to_another_origin():
    seen = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"user": {"name": "x"}}')

        def log_message(self, *args):
            pass

    other, other_url = _server(Elsewhere)

    class Redirecting(Elsewhere):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", other_url + "/steal")
            self.end_headers()

    instance, instance_url = _server(Redirecting)
    try:
        with pytest.raises(InfrastructureError, match="another origin"):
            RemoteSource(instance_url, "hc_secret-token").__enter__()
        assert seen == [], "the token went to another origin"
    finally:
        instance.shutdown()
        other.shutdown()
