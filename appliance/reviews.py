"""What an admin approves: a test as it would run, and how it differs from its template.

The approvals page shows this for every waiting test, so that a clone with a million
running jobs, another category or another image is seen before it is approved."""
from __future__ import annotations

from dataclasses import dataclass, field

from appliance.knobs import KNOBS, LOAD_KNOBS
from appliance.models import Template, TemplateSite, Test, TestSite

# Fields a test copies from its template (or its template's job) and may change.
_TEST_FIELDS = ("category", "golden", "command", "image", "environment", "timeout",
                "metrics_file", "network")


@dataclass
class Review:
    test: Test
    sites: list[tuple[str, dict]]          # (site name, {knob: value}) in name order
    duration: float                        # seconds from start to end
    differences: list[tuple[str, object, object]] = field(default_factory=list)
    # (what, the template's value, the test's value)


def review(test: Test) -> Review:
    template = Template.get_by_id(test.template_id)
    rows = (TestSite.select(TestSite, TestSite.site).where(TestSite.test == test.id)
            .order_by(TestSite.site))
    sites = sorted(((row.site.name, {k: getattr(row, k) for k in LOAD_KNOBS}) for row in rows),
                   key=lambda pair: pair[0])
    return Review(test, sites, test.end_at - test.start_at,
                  _differences(test, template, dict(sites)))


def _differences(test: Test, template: Template, sites: dict[str, dict]) -> list:
    job = template.job_template
    found = []
    for name in _TEST_FIELDS:
        source = template if name in ("category", "golden") else job
        if getattr(source, name) != getattr(test, name):
            found.append((name, getattr(source, name), getattr(test, name)))
    if template.duration != round(test.end_at - test.start_at):
        found.append(("duration", template.duration, round(test.end_at - test.start_at)))
    planned = {row.site.name for row in
               TemplateSite.select(TemplateSite, TemplateSite.site)
               .where(TemplateSite.template == template.id)}
    if planned != set(sites):
        found.append(("sites", ", ".join(sorted(planned)), ", ".join(sorted(sites))))
    for knob in KNOBS:
        changed = sorted(name for name, load in sites.items()
                         if load[knob.name] != getattr(template, knob.name))
        if changed:
            values = {sites[name][knob.name] for name in changed}
            shown = values.pop() if len(values) == 1 else "varies"
            found.append((f"{knob.label} ({', '.join(changed)})",
                          getattr(template, knob.name), shown))
    return found
