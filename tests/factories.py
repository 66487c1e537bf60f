"""Small builders for test data (sites, templates) on the current database."""
from __future__ import annotations

import itertools

from appliance.models import Site
from appliance.specs import check_site, save_template

_names = itertools.count(1)


def make_site(name: str | None = None, backend: str = "fake", **settings) -> Site:
    name = name or f"site-{next(_names)}"
    return Site.create(**check_site(name, backend, settings))


def make_template(name: str | None = None, sites: list[Site] | None = None, **fields):
    sites = sites or [make_site()]
    document = {"name": name or f"template-{next(_names)}", "sites": [s.name for s in sites],
                "job": {"command": fields.pop("command", "true")}, **fields}
    return save_template(document)
