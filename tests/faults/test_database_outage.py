"""A database outage (a TCP proxy between the appliance and PostgreSQL, cut and
restored): pages and /readyz answer 503, not 500; the agents' health check says
unhealthy while the database is away and healthy again after."""
from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest

from appliance import config
from appliance.agents.runner import Heartbeat
from appliance.db import database, open_database, upgrade
from appliance.startup import agent_problem
from appliance.web import create_app
from tests.faults.conftest import TcpProxy


@pytest.fixture
def proxied(postgres_database, tmp_path):
    real = urlparse(postgres_database)
    proxy = TcpProxy(real.port)
    url = postgres_database.replace(f":{real.port}/", f":{proxy.port}/")
    settings = config.load({"HC_DATA_DIR": str(tmp_path), "HC_DATABASE_URL": url,
                            "HC_HOSTNAME": "node-1", "HC_ROLE": "all"})
    open_database(url)
    upgrade()
    yield settings, proxy
    proxy.close()
    database.close()
    database.initialize(None)


def test_pages_and_readiness_say_503_while_the_database_is_away(proxied):
    settings, proxy = proxied
    app = create_app(settings)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    proxy.cut()
    for path in ("/readyz", "/", "/api/v1/tests", "/metrics"):
        reply = client.get(path)
        assert reply.status_code == 503, (path, reply.status_code)
        assert "Traceback" not in reply.get_data(as_text=True)
    proxy.restore()
    assert client.get("/readyz").status_code == 200


def test_the_agents_health_check_is_unhealthy_while_cut_off(proxied):
    settings, proxy = proxied
    for role in ("server", "submit"):
        Heartbeat(role, settings.hostname, 1).start(time.time())
    database.close()
    assert agent_problem(settings) is None
    proxy.cut()
    assert "database unreachable" in agent_problem(settings)
    proxy.restore()
    assert agent_problem(settings) is None
