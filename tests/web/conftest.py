"""A web app over a migrated SQLite database with two users and an admin, and
clients that log in through the real login form (CSRF token included)."""
from __future__ import annotations

import re

import pytest

from appliance import accounts
from appliance.web import create_app
from tests.factories import make_site, make_template

PASSWORD = "correct horse battery"


@pytest.fixture
def app(db, settings):
    sites = [make_site("alpha", run_seconds=0), make_site("beta", run_seconds=0)]
    make_template("stress-ping", sites=sites, load={"max_running": 2}, duration="10m")
    make_template("nightly", sites=sites[:1], category="functional", duration="1h")
    for name, role in (("alice", "user"), ("bob", "user"), ("root", "admin")):
        accounts.add_user(name, PASSWORD, role)
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


class Browser:
    """A test client that remembers the CSRF token of the last page it read."""

    def __init__(self, client):
        self.client = client
        self.token = ""

    def get(self, url, **kwargs):
        reply = self.client.get(url, **kwargs)
        found = re.search(r'name="csrf_token" value="([^"]+)"', reply.get_data(as_text=True))
        if found:
            self.token = found.group(1)
        return reply

    def post(self, url, data=None, csrf=True, **kwargs):
        data = dict(data or {})
        if csrf:
            if not self.token:
                self.get("/")
            data.setdefault("csrf_token", self.token)
        return self.client.post(url, data=data, **kwargs)

    def login(self, name, password=PASSWORD):
        self.get("/login")
        reply = self.post("/login", {"name": name, "password": password, "next": "/"})
        self.token = ""  # a login starts a new session, with a new CSRF token
        return reply


@pytest.fixture
def visitor(app):
    return Browser(app.test_client())


@pytest.fixture
def as_user(app, visitor):
    """Log `visitor` in as one of the users."""
    def login(name):
        reply = visitor.login(name)
        assert reply.status_code == 302, reply.get_data(as_text=True)
        return visitor
    return login


@pytest.fixture
def token_for(app):
    def make(name):
        from appliance.models import User
        return accounts.make_token(User.get(User.name == name), "tests")[1]
    return make
