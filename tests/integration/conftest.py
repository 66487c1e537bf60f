"""An appliance per test, on SQLite and on PostgreSQL."""
from __future__ import annotations

import pytest

from appliance.db import database, open_database, upgrade
from tests.integration.harness import Appliance


@pytest.fixture(params=["sqlite", "postgres"])
def appliance(request, tmp_path):
    url = None
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
    instance = Appliance(str(tmp_path / "data"), url)
    instance.hc("db", "upgrade")
    # The test reads the same database directly.
    open_database(url or f"sqlite:///{tmp_path}/data/hc.sqlite")
    upgrade()
    yield instance
    codes = instance.stop_all()
    database.close()
    database.initialize(None)
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print(instance.logs())
    assert all(code == 0 for code in codes.values()), f"agents exited with {codes}\n" \
        + instance.logs()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
