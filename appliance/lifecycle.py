"""Test life: creation from a template, user intents and guarded state changes.

Every state change is `UPDATE test SET state=... WHERE id=? AND state IN (sources)`
with its row count checked, and leaves a TestLog line in the same transaction.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from appliance import backends, registry
from appliance.db import database
from appliance.errors import BadInput
from appliance.knobs import LOAD_KNOBS, check_knob
from appliance.models import Site, Template, Test, TestLog, TestSite
from appliance.states import TEST_FINAL, Category, Severity, SiteStatus, TestState, test_sources

log = logging.getLogger(__name__)


class TransitionRefused(Exception):
    """The test is not in a state that allows the requested change."""


def add_log(test_id: int, message: str, severity: Severity = Severity.TESTINFO,
            actor: str = "system", at: float | None = None) -> None:
    TestLog.create(test=test_id, message=message, severity=severity.value, actor=actor,
                   at=time.time() if at is None else at)


def move_test(test_id: int, target: TestState, actor: str, reason: str = "",
              at: float | None = None, only_if=None, **columns) -> None:
    """Move a test to `target` if its current state allows it; raise otherwise.

    `only_if` adds a condition (e.g. the submit host still being the expected one)
    so that two agents racing for the same test cannot both win.
    """
    if target in TEST_FINAL:
        columns.setdefault("finished_at", time.time() if at is None else at)
    with database.atomic():
        sources = [s.value for s in test_sources(target)]
        query = (Test.update(state=target.value, state_reason=reason, **columns)
                 .where(Test.id == test_id, Test.state.in_(sources)))
        if only_if is not None:
            query = query.where(only_if)
        if query.execute() != 1:
            raise TransitionRefused(_refusal(test_id, target))
        message = f"state -> {target.value}" + (f": {reason}" if reason else "")
        severity = Severity.ERROR if target is TestState.ERROR else Severity.TESTINFO
        add_log(test_id, message, severity, actor, at)


def _refusal(test_id: int, target: TestState) -> str:
    test = Test.get_or_none(Test.id == test_id)
    if test is None:
        return f"test {test_id} does not exist"
    return f"test {test_id} is {test.state}: it cannot become {target.value}"


def refuse_sites_without_images(image: str, sites) -> None:
    """ImageRefused naming each site that cannot run container images."""
    refused = [(site.name, reason) for site in sites
               if (reason := backends.image_refusal(site))]
    if refused:
        raise registry.ImageRefused(
            f"image {image}: " + "; ".join(f"site {name} cannot run it: {reason}"
                                           for name, reason in refused))


def create_test(template: Template, start_at: float, end_at: float, owner: str,
                sites: Iterable[Site] | None = None, load: dict | None = None,
                state: TestState = TestState.DRAFT, description: str | None = None,
                image: str | None = None, resolved_from: str | None = None) -> Test:
    """A new test holding a copy of the template's settings (and `load` overrides).

    `image` replaces the template's payload image. A registry image named by tag
    is resolved to its digest here, once: every job of the test runs that digest
    (registry.pin_for_test; ImageRefused when it cannot be resolved).
    `resolved_from`: the tag a caller already resolved to `image` (for the log).

    The returned test's `warnings` lists what the creator should know (e.g. a
    stress test on an excluded site); each is also in the test log.
    """
    if end_at <= start_at:
        raise BadInput("the end time must be after the start time")
    sites = list(sites) if sites is not None else [ts.site for ts in template.template_sites]
    if not sites:
        raise BadInput(f"template {template.name} names no sites and none were given")
    knobs = {k: getattr(template, k) for k in LOAD_KNOBS} | (load or {})
    job = template.job_template
    wanted = image or job.image
    if wanted:
        refuse_sites_without_images(wanted, sites)
    pinned = registry.pin_for_test(wanted)  # before the transaction: it may ask a registry
    with database.atomic():
        test = Test.create(
            template=template, category=template.category, golden=template.golden,
            description=template.description if description is None else description,
            command=job.command, image=pinned, environment=job.environment,
            timeout=job.timeout, metrics_file=job.metrics_file, network=job.network,
            start_at=start_at,
            end_at=end_at, state=state.value, owner=owner)
        TestSite.insert_many([dict(test=test, site=site, **knobs) for site in sites]).execute()
        add_log(test.id, f"created from template {template.name} in state {state.value} "
                f"with sites {', '.join(s.name for s in sites)}", actor=owner)
        if pinned != job.image:
            asked = resolved_from if resolved_from and resolved_from != pinned else wanted
            resolved = f" (tag {asked} resolved at creation)" if pinned != asked else ""
            add_log(test.id, f"payload image -> {pinned}{resolved}", actor=owner)
        test.warnings = _excluded_site_warnings(test, sites, owner)
    return test


def _excluded_site_warnings(test: Test, sites: list[Site], owner: str) -> list[str]:
    """Functional tests go to excluded sites on purpose (that is how they recover);
    a stress test there, or on a site whose backend failed its check, is probably
    a mistake."""
    if test.category != Category.STRESS.value:
        return []
    warnings = [f"site {s.name} is excluded ({s.status_reason or 'no reason given'}): its "
                "jobs are likely to fail" for s in sites if s.status == SiteStatus.EXCLUDED.value]
    warnings += [f"site {s.name} failed its last check: {s.check_message}"
                 for s in sites if s.check_ok is False]
    for warning in warnings:
        add_log(test.id, warning, Severity.WARNING, owner)
        log.warning("test %s: %s", test.id, warning)
    return warnings


def clone_test(source: Test, owner: str, start_at: float | None = None,
               end_at: float | None = None) -> Test:
    """A new draft with the source test's settings (not its template's current ones)."""
    start_at = time.time() if start_at is None else start_at
    end_at = start_at + (source.end_at - source.start_at) if end_at is None else end_at
    if end_at <= start_at:
        raise BadInput("the end time must be after the start time")
    copied = ("template", "category", "golden", "description", "command", "image", "network",
              "environment", "timeout", "metrics_file")
    with database.atomic():
        test = Test.create(start_at=start_at, end_at=end_at, owner=owner, cloned_from=source,
                           state=TestState.DRAFT.value,
                           **{name: getattr(source, name) for name in copied})
        TestSite.insert_many([
            dict(test=test, site=ts.site_id, **{k: getattr(ts, k) for k in LOAD_KNOBS})
            for ts in source.test_sites]).execute()
        add_log(test.id, f"cloned from test {source.id}", actor=owner)
    return test


def send_for_approval(test_id: int, actor: str) -> None:
    move_test(test_id, TestState.UNAPPROVED, actor)


def approve(test_id: int, actor: str) -> None:
    move_test(test_id, TestState.TOBESCHEDULED, actor, reason=f"approved by {actor}")


def cancel(test_id: int, actor: str, reason: str = "") -> None:
    """Cancel a test; its submit agent kills what still runs."""
    move_test(test_id, TestState.CANCELLED, actor, reason=reason or f"cancelled by {actor}")


def set_load(test_id: int, site_name: str, actor: str, **knobs) -> list[str]:
    """Change a site's load knobs in a test that has not ended; one log line per change."""
    for name, value in knobs.items():
        check_knob(name, value)
    with database.atomic():  # reads, then writes: SQLite's begins IMMEDIATE (appliance/db.py)
        test = Test.get_by_id(test_id)
        if TestState(test.state) in TEST_FINAL:
            raise TransitionRefused(
                f"test {test_id} is {test.state}: its load can no longer change")
        row = (TestSite.select().join(Site)
               .where(TestSite.test == test_id, Site.name == site_name).first())
        if row is None:
            raise BadInput(f"site {site_name!r} is not part of test {test_id}")
        changes = [f"{site_name}: {k} -> {v}" for k, v in knobs.items() if getattr(row, k) != v]
        TestSite.update(**knobs).where(TestSite.id == row.id).execute()
        for change in changes:
            add_log(test_id, change, Severity.QUEUECONTROL, actor)
    return changes


def is_functional(test: Test) -> bool:
    return test.category == Category.FUNCTIONAL.value
