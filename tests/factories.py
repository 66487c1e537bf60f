"""Small builders for test data (sites, templates) on the current database."""
from __future__ import annotations

import itertools

from appliance.documents import check_site, save_template
from appliance.models import Site

_names = itertools.count(1)


def make_site(name: str | None = None, backend: str = "fake", **settings) -> Site:
    name = name or f"site-{next(_names)}"
    return Site.create(**check_site(name, backend, settings))


def make_template(name: str | None = None, sites: list[Site] | None = None, **fields):
    sites = sites or [make_site()]
    document = {"name": name or f"template-{next(_names)}", "sites": [s.name for s in sites],
                "job": {"command": fields.pop("command", "true")}, **fields}
    return save_template(document)


def make_running_test(template, host: str, start: float, duration: float = 600, **load):
    """A test of `template` approved and assigned to `host`, starting at `start`."""
    from appliance import lifecycle
    from appliance.models import Test
    from appliance.states import TestState

    test = lifecycle.create_test(template, start, start + duration, owner="tester", load=load,
                                 state=TestState.SCHEDULED)
    Test.update(submit_host=host).where(Test.id == test.id).execute()
    return Test.get_by_id(test.id)
