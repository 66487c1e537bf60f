"""Server agent: decides, never executes. It never calls a backend.

Duties, each run on its own period by `schedule`:
- keep one live test for every active functional template;
- assign tests waiting to be scheduled to the live submit host with least load;
- move the tests of a submit host whose heartbeat stopped to a live host;
- refresh the summaries of tests in progress;
- keep what comparisons read of stress tests once their jobs settled;
- judge site health by the policy when due, and deliver webhooks (appliance/health);
- apply retention (appliance/retention.py): old job rows, logs and work areas go, in
  small batches within a time budget per pass;
- renew credentials' proxies when due and warn tests whose credential is ending.
"""
from __future__ import annotations

import logging

import peewee as pw
import schedule

from appliance import credentials, retention
from appliance.agents import lease
from appliance.agents.runner import Heartbeat
from appliance.config import Config
from appliance.health import live as health
from appliance.health import webhooks
from appliance.knobs import target_in_flight_sql
from appliance.lifecycle import TransitionRefused, add_log, create_test, move_test
from appliance.liveness import alive
from appliance.models import Agent, Job, Template, Test, TestSite
from appliance.registry import ImageRefused
from appliance.reports import jobscan, summary
from appliance.states import (
    JOB_ACTIVE,
    TEST_FINAL,
    TEST_ON_SUBMIT_HOST,
    Category,
    Severity,
    TestState,
)

log = logging.getLogger(__name__)
ACTOR = "server"
_LIVE_FUNCTIONAL = (TestState.TOBESCHEDULED, TestState.SCHEDULED, TestState.SUBMITTING,
                    TestState.RUNNING)


def _values(states) -> list[str]:
    return [s.value for s in states]


class ServerAgent:
    role = "server"

    def __init__(self, config: Config):
        self.config = config
        self.heartbeat = Heartbeat(self.role, config.hostname, config.heartbeat_interval)
        self.scheduler = schedule.Scheduler()
        self._now = 0.0
        self._started = False
        self._credential_notes: set[tuple] = set()
        for duty, period in ((self.create_functional_tests, config.server_interval),
                             (self.assign_tests, config.server_interval),
                             (self.fail_over_dead_hosts, config.server_interval),
                             (self.refresh_summaries, config.summary_interval),
                             (self.keep_test_samples, config.summary_interval),
                             (health.evaluate_if_due, config.server_interval),
                             (webhooks.deliver_due, config.server_interval),
                             (self.apply_retention, config.retention_interval),
                             (self.keep_credentials, config.server_interval)):
            self.scheduler.every(period).seconds.do(self._run_duty, duty)

    def _run_duty(self, duty) -> None:
        try:
            duty(self._now)
        except (pw.OperationalError, pw.InterfaceError):
            raise  # the runner reconnects and retries
        except Exception:  # one failing duty must not stop the others
            log.exception("server duty %s failed; it runs again next period", duty.__name__)

    def loop_once(self, now: float) -> float:
        """Run the duties that are due (all of them on the first call); return
        seconds until the next one is due."""
        self._now = now
        if not self._started:
            self._started = True
            self.scheduler.run_all()
        self.scheduler.run_pending()
        return max(0.05, self.scheduler.idle_seconds or self.config.server_interval)

    def run_all(self, now: float) -> None:
        """Run every duty once, due or not (start-up and tests)."""
        self._now = now
        self.scheduler.run_all()

    def load(self) -> int:
        return 0

    def teardown(self) -> None:
        self.scheduler.clear()

    # -- duties -------------------------------------------------------------

    def keep_credentials(self, now: float) -> None:
        """Renew proxies that are due; warn the tests that depend on a credential
        that is about to end (once per credential and state)."""
        credentials.renew_due(now, ACTOR, self.config.secrets_dir)
        credentials.warn_tests(now, self._credential_notes)
        credentials.announce_to_sites(now, ACTOR)

    def create_functional_tests(self, now: float) -> list[Test]:
        """A new test for every active functional template that has no live one."""
        created = []
        templates = list(Template.select().where(
            Template.category == Category.FUNCTIONAL.value, Template.active))  # (see submit)
        for template in templates:
            tests = Test.select().where(Test.template == template.id)
            if tests.where(Test.state.in_(_values(_LIVE_FUNCTIONAL))).exists():
                continue
            last = tests.where(Test.state == TestState.COMPLETED.value).order_by(
                Test.end_at.desc()).first()
            start = max(now, last.end_at) if last else now
            try:
                test = create_test(template, start, start + template.duration, owner=ACTOR,
                                   state=TestState.TOBESCHEDULED)
            except ImageRefused as refusal:  # e.g. the registry is down: try again later
                log.warning("functional template %s: no test: %s", template.name, refusal)
                continue
            log.info("functional template %s: created test %s", template.name, test.id)
            created.append(test)
        return created

    def live_submit_hosts(self, now: float) -> dict[str, int]:
        """{host: load} of submit agents whose heartbeat is recent."""
        rows = Agent.select(Agent.host, Agent.load).where(
            Agent.role == "submit", alive(now, self.config.agent_dead_after))
        return dict(rows.tuples())

    def _committed_load(self) -> dict[str, int]:
        """Jobs in flight that the host's live tests aim at, per host.

        A host's heartbeat says how many jobs it has out now; a test it was just given,
        or one it has only begun to submit, is not in that figure yet. Counting what the
        live tests are committed to keeps two tests created a moment apart from both
        going to the host whose heartbeat has not caught up."""
        in_flight = pw.fn.SUM(target_in_flight_sql(TestSite))
        rows = (TestSite.select(Test.submit_host, in_flight).join(Test)
                .where(Test.state.in_(_values(TEST_ON_SUBMIT_HOST)),
                       Test.submit_host.is_null(False))
                .group_by(Test.submit_host))
        return dict(rows.tuples())

    def _test_weight(self, test_id: int) -> int:
        return (TestSite.select(pw.fn.SUM(target_in_flight_sql(TestSite)))
                .where(TestSite.test == test_id).scalar() or 0)

    def assign_tests(self, now: float) -> int:
        """Give each test waiting to be scheduled to the least loaded live host."""
        waiting = list(Test.select().where(Test.state == TestState.TOBESCHEDULED.value)
                       .order_by(Test.start_at, Test.id))
        if not waiting:
            return 0
        for test in [t for t in waiting if t.end_at <= now]:
            move_test(test.id, TestState.ERROR, ACTOR, "its end time passed before a submit "
                      "host could take it", at=now)
        hosts = self.live_submit_hosts(now)
        if not hosts:
            log.warning("%d tests wait for a live submit agent", len(waiting))
            return 0
        for host, committed in self._committed_load().items():
            if host in hosts:
                hosts[host] = max(hosts[host], committed)
        assigned = 0
        for test in [t for t in waiting if t.end_at > now]:
            host = min(hosts, key=lambda h: (hosts[h], h))
            try:
                move_test(test.id, TestState.SCHEDULED, ACTOR, f"assigned to {host}", at=now,
                          submit_host=host, lease=Test.lease + 1)
            except TransitionRefused as refused:
                log.info("%s", refused)
                continue
            hosts[host] += self._test_weight(test.id)
            assigned += 1
        return assigned

    def fail_over_dead_hosts(self, now: float) -> int:
        """Move tests (and ended tests with jobs still out) off hosts that stopped beating."""
        hosts = self.live_submit_hosts(now)
        owned = (Test.select(Test.id, Test.submit_host)
                 .where(Test.submit_host.is_null(False),
                        Test.submit_host.not_in(list(hosts) or [""]),
                        Test.state.in_(_values(TEST_ON_SUBMIT_HOST)) | (
                            Test.state.in_(_values(TEST_FINAL)) & pw.fn.EXISTS(
                                Job.select(Job.id).where(
                                    Job.test == Test.id,
                                    Job.state.in_(_values(JOB_ACTIVE))))))
                 .tuples())
        moved = 0
        for test_id, dead_host in list(owned):
            if not hosts:
                log.warning("test %s is on dead host %s and no submit host is alive", test_id,
                            dead_host)
                continue
            host = min(hosts, key=lambda h: (hosts[h], h))
            if not lease.take_over(test_id, dead_host, host):
                continue
            add_log(test_id, f"submit host {dead_host} stopped responding: moved to {host}",
                    Severity.WARNING, ACTOR, at=now)
            hosts[host] += self._test_weight(test_id)
            moved += 1
        return moved

    def refresh_summaries(self, now: float) -> int:
        tests = Test.select(Test.id).where(Test.state.in_(_values(TEST_ON_SUBMIT_HOST)))
        refreshed = []
        for (test_id,) in tests.tuples():
            summary.refresh(test_id, now, keep=True)
            refreshed.append(test_id)
        jobscan.keep_only(refreshed)
        return len(refreshed)

    def keep_test_samples(self, now: float) -> list[int]:
        """Keep what comparisons read of stress tests that settled: their first
        comparison then reads no job rows (appliance/compare/samplestore.py)."""
        from appliance.compare import samplestore  # numpy: only in this duty

        return samplestore.keep_settled(now)

    def apply_retention(self, now: float) -> retention.Report:
        report = retention.run(self.config, now)
        if report.job_rows or report.log_lines or report.archived or report.archives_removed:
            log.info("retention: %s%s", "; ".join(report.lines()),
                     "" if report.finished else " (more next pass)")
        return report
