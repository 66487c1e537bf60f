"""Fixtures of the site-health tests: a world to fill, and a webhook receiver."""
from __future__ import annotations

import http.server
import json
import threading

import pytest
from worlds import World


@pytest.fixture
def world(db) -> World:
    return World()


class Receiver(http.server.BaseHTTPRequestHandler):
    """Records every POST; answers the status codes queued in `replies` first."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        status = server.replies.pop(0) if server.replies else 200
        server.received.append({"status": status, "headers": dict(self.headers),
                                "body": json.loads(body)})
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    """An HTTP server on 127.0.0.1 that webhooks can be pointed at."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.received, server.replies = [], []
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_world(request, tmp_path):
    """A World on SQLite, and again on PostgreSQL: the health SQL must suit both."""
    from appliance.db import database, open_database, upgrade
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/hc.sqlite"
    else:
        url = request.getfixturevalue("postgres_database")
    connection = open_database(url)
    upgrade()
    yield World()
    connection.close()
    database.initialize(None)
