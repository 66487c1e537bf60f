"""The two sides of a comparison, as written by people, and the jobs each holds.

A side is `test:ID` (a test's jobs), or `template:NAME@START..END` (the jobs of a
template's tests that ended in [START, END); START and END as ISO 8601 times or
dates, UTC). With `site`, one test is compared with itself: that site's jobs (B)
against those of every other site of the test together (A).

Loading is one query per side over the job rows; values are grouped per site in
one pass. A side holding more than MAX_JOBS jobs is refused (narrow the period).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from appliance.agents import jobbook
from appliance.errors import BadInput
from appliance.models import Job, Site, Template, Test
from appliance.moments import parse_when
from appliance.states import TEST_FINAL

OTHERS = "other sites"


@dataclass(frozen=True)
class Side:
    """One side: which jobs (test, or template and period), and whether they can still change."""
    spec: str
    label: str
    test_id: int | None = None
    template_id: int | None = None
    start: float | None = None
    end: float | None = None
    final: bool = False


def parse(spec: str, now: float | None = None) -> Side:
    """A side from its text; BadInput naming what is wrong (an unknown test, a bad period)."""
    now = time.time() if now is None else now
    text = (spec or "").strip()
    kind, _, rest = text.partition(":")
    if kind == "test" or (text.isdigit() and not rest):
        return _test_side(rest if kind == "test" else text, now)
    if kind == "template":
        return _template_side(rest, now)
    raise BadInput(f"side {text[:100]!r} must be test:ID or template:NAME@START..END")


def _test_side(text: str, now: float) -> Side:
    if not text.isdigit() or int(text) >= 2**63:
        raise BadInput(f"test:{text[:100]} does not name a test (test:ID)")
    test = Test.get_or_none(Test.id == int(text))
    if test is None:
        raise BadInput(f"there is no test {int(text)}")
    return Side(f"test:{test.id}", f"test {test.id}", test_id=test.id,
                final=jobbook.settled(test, now))


def _template_side(text: str, now: float) -> Side:
    name, _, period = text.partition("@")
    start_text, _, end_text = period.partition("..")
    if not name or not start_text or not end_text:
        raise BadInput(f"template:{text[:100]} must be template:NAME@START..END")
    template = Template.get_or_none(Template.name == name)
    if template is None:
        raise BadInput(f"there is no template {name[:100]!r}")
    start, end = (_moment(start_text, now), _moment(end_text, now))
    if end <= start:
        raise BadInput(f"the period {period[:100]} ends before it starts")
    # Final once the period is over and no test of the template can still add jobs to
    # it or correct one (a late outcome moves a job's end: jobbook.settled).
    unsettled = (Test.select().where(
        Test.template == template.id, Test.start_at < end,
        Test.state.not_in([s.value for s in TEST_FINAL])
        | (Test.finished_at > now - jobbook.LATE_WINDOW)).exists())
    return Side(f"template:{name}@{start:.0f}..{end:.0f}", f"{name} {period}",
                template_id=template.id, start=start, end=end,
                final=end + jobbook.LATE_WINDOW <= now and not unsettled)


def _moment(text: str, now: float) -> float:
    try:
        return parse_when(text, now)
    except BadInput as error:
        raise BadInput(f"period: {error}") from None


def site_names() -> dict[int, str]:
    return dict(Site.select(Site.id, Site.name).tuples())


def has_job_rows(side: Side) -> bool:
    """False for a test whose job rows retention removed (nothing left to compare)."""
    if side.test_id is None:
        return True
    return not Test.select().where(Test.id == side.test_id,
                                   Test.jobs_removed_at.is_null(False)).exists()


def site_of_test(side: Side, name: str) -> int:
    """The id of site `name` if it ran jobs of the side's test; BadInput otherwise."""
    site = Site.get_or_none(Site.name == name)
    if site is None or not Job.select().where(Job.test == side.test_id,
                                              Job.site == site.id).exists():
        raise BadInput(f"site {name[:100]!r} ran no jobs of {side.label}")
    return site.id
