"""Submit agent: runs the tests assigned to its host through their sites' backends.

One iteration, for every test assigned here: start it at its start time
(work area), then per site poll the backend, enforce timeouts and keep the load
(generate -> submit -> report); at the end time kill what is left and complete
the test. Cancelled tests get their jobs killed. Everything it knows lives in
the database and the work area, so a restarted agent (or one taking over a dead
host's tests) simply carries on: that is re-adoption.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import logging
import os
import threading
import time

import peewee

from appliance import credentials, sitecheck, workarea
from appliance.agents import jobbook, load, siteworkers
from appliance.agents.jobbook import ActiveJob
from appliance.agents.keptjobs import KeptJobs
from appliance.agents.lease import Lease, LeaseLost, still_held
from appliance.agents.pacing import Pace
from appliance.agents.runner import Heartbeat
from appliance.agents.siteworkers import SiteWorkers
from appliance.agents.spaceguard import SpaceGuard
from appliance.backends import Backend, BackendError, SettingsError, make_backend
from appliance.backends.base import timed_out
from appliance.config import Config
from appliance.db import connection_broken, database
from appliance.lifecycle import TransitionRefused, add_log, move_test
from appliance.models import Job, Site, Test, TestSite
from appliance.reports import summary
from appliance.states import (
    JOB_ACTIVE,
    TEST_FINAL,
    TEST_ON_SUBMIT_HOST,
    JobState,
    Severity,
    SiteStatus,
    TestState,
)

log = logging.getLogger(__name__)
KILL_ATTEMPTS = 5  # failed kills (or recoveries) of a job before it is given up as lost
DATABASE_ERRORS = (peewee.OperationalError, peewee.InterfaceError)
LATE_LOOK_INTERVAL = 5.0  # s between looks for outcomes of jobs already given up
BACKOFF_FIRST, BACKOFF_MAX = 5.0, 300.0  # s: a site whose backend keeps timing out


class SubmitAgent:
    role = "submit"

    def __init__(self, config: Config):
        self.config = config
        self.host = config.hostname
        self.heartbeat = Heartbeat(self.role, self.host, config.heartbeat_interval)
        self._backends: dict[int, tuple[str, Backend]] = {}
        self._next_poll: dict[tuple[int, int], float] = {}
        self._kill_failures: collections.Counter = collections.Counter()
        self._site_load: dict[tuple[int, int], int] = {}  # jobs in flight per (test, site)
        self._busy = False
        self._noted: set[tuple] = set()
        self._next_site_check = 0.0
        self._site_checks: threading.Thread | None = None
        self._next_late_look = 0.0
        self._next_settle = 0.0
        self._recover_failures: collections.Counter = collections.Counter()
        self._backoff: dict[int, tuple[float, float]] = {}  # site id: (until, delay)
        self._load = 0
        self.space = SpaceGuard(config.work_dir, config.work_min_free)
        self.problem: str | None = None  # the heartbeat carries it to the pages
        self._held: dict[int, Lease] = {}  # tests served last iteration
        self._lost: dict[int, str] = {}  # tests taken from this node: what was said
        self._unseen: set[int] = set()  # jobs of another node that this one cannot see
        self._saying = threading.Lock()  # site threads may find a test lost at once
        self._workers = SiteWorkers(patience=config.backend_timeout)
        self._tasks: dict[int, list] = {}  # test id: this iteration's site tasks
        self._pace = Pace()
        self._kept = KeptJobs()  # active jobs per (test, site), checked against the database
        # The order in which sites are served turns only after an iteration cut a
        # submission short (the next sites come first then); otherwise it stays, so
        # that each site is polled at the same point of every iteration, one poll
        # interval apart (a turning order added up to an iteration's length).
        self._turn = 0
        self._cut = False

    # -- the loop ---------------------------------------------------------

    def loop_once(self, now: float) -> float:
        """One pass over this host's tests; returns seconds until the next is useful.

        A failure in one test or site is logged and costs only that test or site
        this iteration; only a broken database connection escapes (the runner
        reconnects). Backend calls run on each site's own thread (SiteWorkers):
        tasks are dispatched, waited for (never on a slow site), then each test
        concludes from the tasks that finished.
        """
        self._busy = False
        began = time.monotonic()
        if self._cut:
            self._turn, self._cut = self._turn + 1, False
        self._pace.start_iteration()
        self.space.check()
        # A list, not an open cursor: with SQLite an open read makes every write of
        # this iteration fail ("database is locked") once another process commits.
        tests = list(Test.select().where(Test.submit_host == self.host,
                                         Test.state.in_([s.value for s in TEST_ON_SUBMIT_HOST]))
                     .order_by(Test.id))
        self._notice_takeovers({test.id for test in tests}, now)
        self._held = {test.id: Lease.of(test) for test in tests}
        for test in tests:  # held again (given back to this node)
            self._lost.pop(test.id, None)
        self._tasks = {}
        for test in tests:
            self._guarded(f"test {test.id}", self._work_on, test, now)
        self._guarded("ended tests", self._kill_jobs_of_ended_tests, now)
        self._guarded("late outcomes", self._look_late, now)
        self._guarded("jobs left behind", self._settle_left_behind, now)
        self._workers.wait()
        for test in tests:
            self._guarded(f"test {test.id}", self._conclude, test, now)
        for test_id in self.space.reopened_for():
            add_log(test_id, "work area has space again: jobs resume", Severity.WARNING,
                    f"submit:{self.host}", at=now)
        self._forget_all_but({test.id for test in tests})
        self._check_sites_in_background(now)
        self._load = sum(list(self._site_load.values()))
        self.problem = self._problem()
        return 0.0 if self._busy else self._wait(now, time.monotonic() - began)

    def _guarded(self, what: str, function, *args):
        try:
            return function(*args)
        except LeaseLost as lost:  # taken over while this node was cut off: hands off
            self._say_lost(lost.lease, time.time())
        except TransitionRefused as refused:  # changed under us (cancel, reassignment)
            log.info("%s: %s", what, refused)
        except DATABASE_ERRORS as error:
            if connection_broken(error):
                raise  # the runner reconnects and retries the iteration
            log.exception("%s: the database refused a query; retrying next time", what)
        except Exception:  # one broken test must not starve the others
            log.exception("%s: iteration failed; retrying next time", what)

    # -- losing a test to another node --------------------------------------

    def _notice_takeovers(self, serving: set[int], now: float) -> None:
        """Tests served last iteration that another host holds now were taken over
        (this node was cut off, or stalled, past HC_AGENT_DEAD_AFTER)."""
        for test_id, lease in list(self._held.items()):
            if test_id in serving or test_id in self._lost:
                continue
            row = Test.get_or_none(Test.id == test_id)
            if row is not None and (row.submit_host, row.lease) != (lease.host, lease.number):
                self._say_lost(lease, now, row.submit_host)

    def _say_lost(self, lease: Lease, now: float, owner: str | None = None) -> None:
        """Once per test: in this agent's log, the test's log and its health check."""
        with self._saying:
            if lease.test_id not in self._lost:
                self._say_lost_now(lease, now, owner)

    def _say_lost_now(self, lease: Lease, now: float, owner: str | None) -> None:
        if owner is None:
            owner = Test.select(Test.submit_host).where(Test.id == lease.test_id).scalar()
        message = (f"{self.host} lost this test to {owner} while it could not reach the "
                   "database (or stalled): it stops acting on it, records the outcomes it "
                   "knows of its own jobs and kills those only it can see")
        log.warning("test %s: %s", lease.test_id, message)
        add_log(lease.test_id, message, Severity.WARNING, f"submit:{self.host}", at=now)
        self._lost[lease.test_id] = (message, now)
        self._held.pop(lease.test_id, None)

    def _problem(self) -> str | None:
        """What the health check says: a full work area, tests lost to a takeover."""
        problems = [self.space.problem] if self.space.problem else []
        if self._lost:
            ids = ", ".join(str(i) for i in sorted(self._lost))
            problems.append(f"test(s) {ids} taken over by another node while this one could "
                            "not reach the database")
        return "; ".join(problems) or None

    def _forget_lost(self, now: float) -> None:
        """A lost test stops being a problem once none of this node's jobs of it is
        left active (and the heartbeat has carried it at least twice)."""
        for test_id, (_, said_at) in list(self._lost.items()):
            if now - said_at < 2 * self.config.heartbeat_interval:
                continue
            mine = Job.select(Job.id).where(Job.test == test_id, Job.submit_host == self.host,
                                            Job.state.in_([s.value for s in JOB_ACTIVE]))
            if not mine.exists():
                del self._lost[test_id]

    def _check_sites_in_background(self, now: float) -> None:
        """Site checks run in their own thread: a slow check never delays jobs."""
        if now < self._next_site_check or (self._site_checks and self._site_checks.is_alive()):
            return
        self._next_site_check = now + self.config.site_check_interval
        self._site_checks = threading.Thread(target=self._check_sites, args=(now,),
                                             name="site-checks", daemon=True)
        self._site_checks.start()

    def _check_sites(self, now: float) -> None:
        try:
            sitecheck.check_due(self.host, self.config.site_check_interval, now)
        except Exception:
            log.exception("site checks failed; they run again in %.0f s",
                          self.config.site_check_interval)
        finally:
            with contextlib.suppress(Exception):  # the thread's own connection
                database.close()

    def _forget_all_but(self, test_ids: set[int]) -> None:
        """Drop what was remembered about tests no longer served here."""
        self._next_poll = {k: v for k, v in self._next_poll.items() if k[0] in test_ids}
        self._noted = {key for key in self._noted if key[0] in test_ids}
        self._site_load = {k: v for k, v in self._site_load.items() if k[0] in test_ids}
        self._kept.forget_all_but(test_ids)

    def load(self) -> int:
        return self._load

    def teardown(self) -> None:
        # Jobs keep running: whoever runs this host's tests next re-adopts them.
        self._workers.close(timeout=self.config.backend_timeout * 2)
        if self._site_checks is not None:
            self._site_checks.join(timeout=self.config.backend_timeout * 2)
        for _, backend in self._backends.values():
            backend.close()

    def _wait(self, now: float, elapsed: float) -> float:
        """Until the next poll is due, counted from the iteration's start (`now`): an
        iteration's own length is not added to every site's poll interval."""
        upcoming = [when - now - elapsed for when in self._next_poll.values()]
        return max(0.01, min(upcoming + [self.config.submit_interval]))

    # -- one test ---------------------------------------------------------

    def _work_on(self, test: Test, now: float) -> None:
        """Start the test when due; dispatch its sites' work (or, at its end time,
        the last look and kill of what is left) to the sites' threads."""
        state = TestState(test.state)
        if state is TestState.SCHEDULED:
            if now < test.start_at:
                return
            self._start(test, now)
        ending = now >= test.end_at
        tasks = []
        sites = self._sites_of(test)
        # A rotating order: when the submit budget runs out, other sites come first next.
        turn = self._turn % len(sites) if sites else 0
        for test_site, site in sites[turn:] + sites[:turn]:
            if ending:
                tasks.append(self._on_site(site, (test.id, site.id, "end"), self._kill_the_rest,
                                           test, site, None, "still active at the end of the "
                                           "test", now))
            else:
                tasks.append(self._on_site(site, (test.id, site.id, "serve"),
                                           self._serve_site_guarded, test, test_site, site, now))
        self._tasks[test.id] = tasks

    def _on_site(self, site: Site, key: tuple, function, *args):
        """function(*args) on the site's thread, guarded like a test's work."""
        return self._workers.run(site.id, key, self._guarded,
                                 f"test {key[0]} site {site.name}", function, *args)

    def _conclude(self, test: Test, now: float) -> None:
        """After the wait: complete the test when every site is finished (or, past
        its end, when nothing is left active); a site still busy decides nothing."""
        tasks = self._tasks.get(test.id)
        if tasks is None or test.id in self._lost:
            return
        finished = all(task is not None and task.done() for task in tasks)
        if now >= test.end_at:
            if finished:
                self._complete(test, now, "end time reached")
            return
        if TestState(test.state) is TestState.SUBMITTING:
            self._move(test, TestState.RUNNING, now)
        if finished and all(siteworkers.outcome(task) for task in tasks):
            self._complete(test, now, "every site reached its job limit and all jobs ended")

    def _sites_of(self, test: Test) -> list[tuple[TestSite, Site]]:
        rows = (TestSite.select(TestSite, Site).join(Site)
                .where(TestSite.test == test.id).order_by(Site.name))
        return [(row, row.site) for row in rows]

    def _move(self, test: Test, target: TestState, now: float, reason: str = "") -> None:
        try:
            move_test(test.id, target, f"submit:{self.host}", reason, at=now,
                      only_if=(Test.submit_host == self.host) & (Test.lease == test.lease))
        except TransitionRefused:
            if not still_held(Lease.of(test)):
                raise LeaseLost(Lease.of(test)) from None
            raise
        test.state = target.value

    def _start(self, test: Test, now: float) -> None:
        folder = workarea.test_dir(self.config.work_dir, test.id)
        try:
            os.makedirs(folder, exist_ok=True)
            workarea.write_json(os.path.join(folder, workarea.TEST_FILE), _describe(test))
        except OSError as error:
            self._move(test, TestState.ERROR, now, f"cannot create the work area: {error}")
            raise TransitionRefused(f"work area failed: {error}") from error
        self._move(test, TestState.SUBMITTING, now, f"work area {folder}")

    def _complete(self, test: Test, now: float, reason: str) -> None:
        if jobbook.active_jobs(test.id):
            self._busy = True  # a kill failed; try again next iteration
            return
        summary.refresh(test.id, now, final=True)
        self._move(test, TestState.COMPLETED, now, reason)

    # -- one site of a test -------------------------------------------------

    def _serve_site_guarded(self, test: Test, test_site: TestSite, site: Site,
                            now: float) -> bool:
        """_serve_site, but a site that fails costs only itself; one whose backend
        times out is left alone for a while (back-off), its jobs still counted."""
        until, delay = self._backoff.get(site.id, (0.0, 0.0))
        if now < until:
            self._site_load[(test.id, site.id)] = len(jobbook.active_jobs(test.id, site.id))
            return False
        try:
            done = self._serve_site(test, test_site, site, now)
        except BackendError as error:
            if not timed_out(error):
                raise
            delay = min(BACKOFF_MAX, max(BACKOFF_FIRST, delay * 2))
            self._backoff[site.id] = (now + delay, delay)
            message = (f"site {site.name}: its backend timed out ({error}); "
                       f"backing off, next try in {delay:.0f} s")
            self._note_once(test, site, message)
            # Shown where a site's state is (index, site page, API) until it answers again.
            sitecheck.record(site, False, f"backed off by {self.host}: {message}", now)
            return False
        if self._backoff.pop(site.id, None) is not None:
            sitecheck.record(site, True, f"answering {self.host} again after a back-off", now)
        return done

    def _serve_site(self, test: Test, test_site: TestSite, site: Site, now: float) -> bool:
        """Poll, enforce timeouts, keep the load. True when the site is finished."""
        try:
            backend = self._backend(site)
        except SettingsError as error:
            self._note_once(test, site, f"site {site.name} unusable: {error}")
            return True
        lease = Lease.of(test)
        jobs = self._kept.active(lease, site.id)
        jobs = self._adopt_interrupted(test, backend, jobs, now)
        key = (test.id, site.id)
        if now >= self._next_poll.get(key, 0.0):
            jobs = self._poll(test, backend, jobs, now, lease)
            self._next_poll[key] = now + (self.config.poll_interval or backend.poll_interval)
        jobs = self._enforce_timeout(test, backend, jobs, now)
        self._site_load[key] = len(jobs)
        self._kept.keep(lease, site.id, jobs)  # what this iteration's writes left active
        finished = load.site_done(test_site.max_running, test_site.min_queue_depth,
                                  test_site.resubmit, test_site.job_cap, test_site.jobs_created)
        if finished:
            return not jobs
        if site.status == SiteStatus.OFFLINE.value:
            self._note_once(test, site, f"site {site.name} is offline: no jobs sent")
            return False
        if self.space.problem is not None:
            message = self.space.closed_for(test.id)
            if message:
                add_log(test.id, message, Severity.WARNING, f"submit:{self.host}", at=now)
            return False
        refused = self._credential_refusal(site, now)
        if refused:  # said once in the test's log; no job is made to fail for it
            self._note_once(test, site, f"site {site.name}: no jobs sent: {refused}")
            return False
        wanted = load.jobs_to_submit(test_site.max_running, test_site.min_queue_depth,
                                     test_site.resubmit, test_site.job_cap, len(jobs),
                                     test_site.jobs_created, self.config.submit_batch)
        count = self._pace.allowed(wanted, self.config.poll_interval or backend.poll_interval)
        if count < wanted:
            self._busy = self._cut = True  # the rest next iteration, right after this one
        if count:
            began = time.monotonic()
            made = self._submit(test, test_site, site, backend, count, now)
            self._pace.spent(count, time.monotonic() - began)
            self._site_load[key] = len(jobs) + count
            # The new jobs as the database holds them (submitted, or left pending by
            # a backend that did not answer; failed ones are not active).
            jobs = jobs + [j for j in jobbook.jobs_by_id(made) if j.state in JOB_ACTIVE]
            self._kept.keep(lease, site.id, jobs)
            self._next_poll.setdefault(key, now + backend.poll_interval)
        return False

    def _submit(self, test, test_site, site, backend: Backend, count: int,
                now: float) -> list[int]:
        """Make, submit and record up to `count` jobs; the ids of those made."""
        try:  # the site's credential file, where the template asks for it
            environment = credentials.payload_environment(
                test.environment, credentials.site_credential(site), self.config.secrets_dir)
        except credentials.CredentialError as error:
            self._note_once(test, site, f"site {site.name}: no jobs sent: {error}")
            return []
        lease = Lease.of(test)
        specs, failed = jobbook.create_pending(test, test_site, site, count, now, self.host,
                                               self.config.work_dir, lease)
        made = [spec.job_id for spec in specs] + [spec.job_id for spec, _ in failed]
        if environment is not test.environment:
            specs = [dataclasses.replace(spec, environment=environment) for spec in specs]
        submitted, unanswered = [], None
        if backend.submits_in_batches and specs:
            unanswered = self._submit_batch(backend, specs, submitted, failed)
            specs = []  # done
        for number, spec in enumerate(specs):
            try:
                when = time.time()
                submitted.append((spec.job_id, backend.submit(spec), spec.work_dir, when))
            except BackendError as error:
                if timed_out(error):
                    # It may have been submitted all the same: left pending, recovered by
                    # its name next time (_adopt_interrupted); the rest are not tried.
                    unanswered = error
                    failed += [(rest, f"not submitted: the backend timed out ({error})")
                               for rest in specs[number + 1:]]
                    break
                failed.append((spec, f"submit failed: {error}"))
        try:
            refused = jobbook.record_submitted(submitted, backend.starts_immediately, lease)
        except LeaseLost:  # taken over meanwhile: what it cannot record must not run
            backend.kill({bid: folder for _, bid, folder, _ in submitted})
            raise
        if refused:  # decided meanwhile by someone else: do not let them run untracked
            backend.kill({bid: folder for jid, bid, folder, _ in submitted if jid in refused})
        for spec, message in failed:
            job = ActiveJob(spec.job_id, JobState.PENDING.value, None, spec.work_dir, None, None,
                            now, spec.attempt)
            jobbook.end_jobs([job], JobState.FAILED, message, now, lease)
        if unanswered is not None:
            raise unanswered  # the site is backed off (_serve_site_guarded)
        if len(submitted) == count == self.config.submit_batch:
            self._busy = True  # more may be wanted at once
        return made

    @staticmethod
    def _submit_batch(backend: Backend, specs: list, submitted: list,
                      failed: list) -> BackendError | None:
        """Hand the whole batch to the backend at once (one request to a CE)."""
        when = time.time()
        try:
            outcomes = backend.submit_many(specs)
        except BackendError as error:  # the whole batch refused (CE down, credential)
            if timed_out(error):  # left pending: recovered from their folders next time
                return error
            outcomes = [error] * len(specs)
        for spec, outcome in zip(specs, outcomes, strict=True):
            if isinstance(outcome, BackendError):
                failed.append((spec, f"submit failed: {outcome}"))
            else:
                submitted.append((spec.job_id, outcome, spec.work_dir, when))
        return None

    def _adopt_interrupted(self, test: Test, backend: Backend, jobs: list[ActiveJob],
                           now: float) -> list[ActiveJob]:
        """Pending jobs with no backend id were being submitted when an agent died (or
        was cut off from the database: then it may still hand them over, or has)."""
        pending = JobState.PENDING.value  # once: an enum's .value per job added up
        interrupted = [j for j in jobs if not j.backend_id and j.state == pending]
        if not interrupted:
            return jobs
        lease = Lease.of(test)
        adopted, vanished, unsettled = [], [], []
        for job in interrupted:
            folder = job.work_dir or self._folder_of(job)
            try:
                backend_id = backend.recover(folder) if os.path.isdir(folder) else None
            except BackendError as error:  # asked again next time; given up after a few
                self._recover_failures[job.id] += 1
                if self._recover_failures[job.id] >= KILL_ATTEMPTS:
                    jobbook.end_jobs([job], JobState.LOST, f"could not be recovered from "
                                     f"{backend.name}: {error}", now, lease)
                else:
                    log.warning("job %s: recovery failed: %s", job.id, error)
                    unsettled.append(job)
                continue
            if backend_id:
                adopted.append((job.id, backend_id, folder, job.created_at))
            elif self._of_another_node(job) and now < job.created_at + test.timeout:
                unsettled.append(job)  # its node may yet hand it over: counted meanwhile
            else:
                vanished.append(job)
        jobbook.record_submitted(adopted, backend.starts_immediately, lease)
        jobbook.end_jobs(vanished, JobState.LOST,
                         "the submitting agent stopped before the job was handed to the backend",
                         now, lease)
        if adopted or vanished:
            log.info("re-adopted %d interrupted submissions, %d never started", len(adopted),
                     len(vanished))
        # By id: `in` on a list of jobs compares every field of every pair (10,000 jobs
        # timing out at once would take minutes).
        waiting = {j.id for j in interrupted}
        settled = [j for j in jobs if j.id not in waiting]
        return settled + unsettled + jobbook.jobs_by_id([job_id for job_id, *_ in adopted])

    def _of_another_node(self, job: ActiveJob) -> bool:
        return job.submit_host not in (None, self.host)

    def _folder_of(self, job: ActiveJob) -> str:
        row = Job.select(Job.test, Site.name).join(Site).where(Job.id == job.id).tuples().get()
        return workarea.job_dir(self.config.work_dir, row[0], row[1], job.id)

    def _poll(self, test: Test, backend: Backend, jobs: list[ActiveJob], now: float,
              lease: Lease | None) -> list[ActiveJob]:
        at_backend = {j.backend_id: j for j in jobs if j.backend_id}
        if not at_backend:
            return jobs
        try:
            statuses = backend.poll({bid: j.work_dir for bid, j in at_backend.items()})
        except BackendError as error:
            log.warning("test %s: poll of %s failed: %s", test.id, backend.name, error)
            if timed_out(error):
                raise  # the site is backed off (_serve_site_guarded)
            return jobs
        # JobState is a str enum: a state compares equal to its value (no .value, no
        # JobState(...) per job: at 100,000 jobs an iteration, those lookups added up).
        changes = [(at_backend[bid], status) for bid, status in statuses.items()
                   if bid in at_backend and status.state != at_backend[bid].state
                   and not self._unseen_here(at_backend[bid], status)]
        refused = jobbook.record_statuses(changes, now, test.metrics_file, lease)
        if not changes:
            return jobs
        if refused:  # decided by someone else meanwhile: as the database has them now
            truth = {j.id: j for j in jobbook.jobs_by_id(sorted(refused))}
            jobs = [truth.get(j.id) if j.id in refused else j for j in jobs]
        return [j for j in jobs if j is not None and j.state in JOB_ACTIVE]

    def _unseen_here(self, job: ActiveJob, status) -> bool:
        """A job of another node (a test taken over) that this node's backend has no
        trace of (another container's process, another daemon's container): "lost"
        only means it cannot be seen from here. It stays active, counted against the
        site's load, until its node reports, its status file appears, or its timeout
        passes (_enforce_timeout)."""
        if status.state is JobState.LOST and self._of_another_node(job):
            self._unseen.add(job.id)
            return True
        self._unseen.discard(job.id)
        return False

    def _settle_left_behind(self, now: float) -> None:
        """Back after a takeover (cut off from the database): record the outcomes of
        this node's local jobs of tests it no longer holds, kill the rest; correct
        those the new owner had to give up without seeing them."""
        if now < self._next_settle:
            return
        self._next_settle = now + LATE_LOOK_INTERVAL
        self._forget_lost(now)
        # Tests of another host that are live or ended lately (few: through the test
        # table, then the job index by test, never a scan of every job).
        tests = (Test.select(Test.id).where(
            Test.submit_host != self.host, Test.state.in_([s.value for s in TEST_ON_SUBMIT_HOST])
            | (Test.end_at >= now - jobbook.LATE_WINDOW)))
        active = Job.state.in_([s.value for s in JOB_ACTIVE])
        given_up = (Job.state.in_(jobbook.CORRECTABLE)
                    & (Job.ended_at >= now - jobbook.LATE_WINDOW))
        rows = (Job.select(Job.test, Job.site, Test.submit_host).join(Test)
                .where(Job.test.in_(tests), Job.submit_host == self.host, active | given_up)
                .distinct().tuples())
        for test_id, site_id, owner in list(rows):
            site = Site.get_by_id(site_id)
            self._on_site(site, (test_id, site_id, "settle"), self._settle_site,
                          Test.get_by_id(test_id), site, owner, now)

    def _settle_site(self, test: Test, site: Site, owner: str, now: float) -> None:
        backend, site_id = self._backend(site), site.id
        if not backend.host_local:  # the new owner sees these jobs itself
            return
        jobs = [j for j in jobbook.active_jobs(test.id, site_id) if j.submit_host == self.host]
        left = self._poll(test, backend, jobs, now, None)
        if left:
            self._end(backend, left, JobState.KILLED, f"its test moved to {owner} while "
                      f"this node ({self.host}) was cut off from the database", now, None)
        given_up = [j for t, s, j in jobbook.recently_given_up([test.id], now - jobbook.LATE_WINDOW)
                    if s == site_id and j.submit_host == self.host]
        corrected = self._correct(test, backend, given_up, now, None)
        alive = {j.backend_id: j.work_dir for j in given_up if j.id not in corrected}
        if alive:
            backend.kill(alive)  # recorded lost by the new owner: must not run on
        if jobs or corrected:
            add_log(test.id, f"{self.host} is back after losing this test to {owner}: "
                    f"{len(jobs) - len(left) + len(corrected)} outcome(s) recorded, {len(left)} "
                    "job(s) it no longer owns killed", Severity.WARNING, f"submit:{self.host}",
                    at=now)

    def _enforce_timeout(self, test: Test, backend: Backend, jobs: list[ActiveJob],
                         now: float) -> list[ActiveJob]:
        """Running jobs past the test's timeout fail; jobs of another node this one
        cannot see are given up as lost once theirs has passed (their node did not
        report, nor did a status file appear)."""
        since = now - test.timeout  # a job that started before this is past its timeout
        expired = [j for j in jobs if j.started_at and j.started_at < since
                   and j.state == JobState.RUNNING and j.id not in self._unseen]
        unseen = [j for j in jobs if j.id in self._unseen
                  and (j.started_at or j.submitted_at or j.created_at) < since] \
            if self._unseen else []
        if not expired and not unseen:
            return jobs
        lease = Lease.of(test)
        if expired:
            self._end(backend, expired, JobState.FAILED, f"timeout after {test.timeout} s", now,
                      lease)
        if unseen:
            self._give_up_unseen(unseen, f"its timeout ({test.timeout} s) passed", now, lease)
        gone = {j.id for j in expired} | {j.id for j in unseen}
        return [j for j in jobs if j.id not in gone]

    def _give_up_unseen(self, jobs: list[ActiveJob], why: str, now: float,
                        lease: Lease) -> None:
        for host in {j.submit_host for j in jobs}:
            jobbook.end_jobs([j for j in jobs if j.submit_host == host], JobState.LOST,
                             f"submitted by {host}, which lost this test; {why} without a "
                             f"word from {host} or its status file", now, lease)
        self._unseen.difference_update(j.id for j in jobs)

    def _end(self, backend: Backend, jobs: list[ActiveJob], state: JobState, reason: str,
             now: float, lease: Lease | None) -> None:
        """Kill jobs at their backend and record their final state."""
        at_backend = {j.backend_id: j.work_dir for j in jobs if j.backend_id}
        try:
            if at_backend:
                backend.kill(at_backend)
        except BackendError as error:
            for job in jobs:
                self._kill_failures[job.id] += 1
            given_up = [j for j in jobs if self._kill_failures[j.id] >= KILL_ATTEMPTS]
            jobbook.end_jobs(given_up, JobState.LOST, f"could not be killed: {error}", now,
                             lease)
            return
        jobbook.end_jobs(jobs, state, reason, now, lease)

    def _kill_jobs_of_ended_tests(self, now: float) -> None:
        """Cancelled (or otherwise ended) tests: kill their jobs still at a backend."""
        rows = (Job.select(Job.test, Job.site).join(Test)
                .where(Test.submit_host == self.host,
                       Test.state.in_([s.value for s in TEST_FINAL]),
                       Job.state.in_([s.value for s in JOB_ACTIVE]))
                .distinct().tuples())
        for test_id, site_id in list(rows):
            test, site = Test.get_by_id(test_id), Site.get_by_id(site_id)
            self._on_site(site, (test_id, site_id, "ended"), self._kill_the_rest, test, site,
                          None, f"test {test.state}", now, True)

    def _kill_the_rest(self, test: Test, site: Site, jobs: list[ActiveJob] | None, reason: str,
                       now: float, final: bool = False) -> None:
        """A last look first: a job that already ended is recorded as it ended; only
        what still runs is killed (and looked at again later: _look_late). A job of
        another node that cannot be seen from here was not killed: it is lost.
        `final`: the test has ended already; its summary is made final after."""
        if jobs is None:
            jobs = jobbook.active_jobs(test.id, site.id)
        if not jobs:
            return
        backend = self._backend(site)
        jobs = self._adopt_interrupted(test, backend, jobs, now)
        lease = Lease.of(test)
        jobs = self._poll(test, backend, jobs, now, lease)
        unseen = [j for j in jobs if j.id in self._unseen or (
            self._of_another_node(j) and not j.backend_id)]
        if unseen:
            self._give_up_unseen(unseen, f"the test ended ({reason})", now, lease)
        given_up = {j.id for j in unseen}
        jobs = [j for j in jobs if j.id not in given_up]
        if jobs:
            self._end(backend, jobs, JobState.KILLED, reason, now, lease)
        if final:
            summary.refresh(test.id, now, final=True)

    def _look_late(self, now: float) -> None:
        """Jobs recorded killed or lost whose real outcome arrived afterwards (a status
        file written as the kill reached it): the record is corrected and logged."""
        if now < self._next_late_look:
            return
        self._next_late_look = now + LATE_LOOK_INTERVAL
        tests = {test.id: test for test in
                 Test.select().where(Test.submit_host == self.host,
                                     Test.end_at >= now - jobbook.LATE_WINDOW)}
        by_site = collections.defaultdict(list)
        for test_id, site_id, job in jobbook.recently_given_up(list(tests),
                                                               now - jobbook.LATE_WINDOW):
            by_site[(test_id, site_id)].append(job)
        for (test_id, site_id), jobs in by_site.items():
            test, site = tests[test_id], Site.get_by_id(site_id)
            self._on_site(site, (test_id, site_id, "late"), self._correct_at, test, site,
                          jobs, now)

    def _correct_at(self, test: Test, site: Site, jobs: list[ActiveJob], now: float) -> None:
        self._correct(test, self._backend(site), jobs, now, Lease.of(test))

    def _correct(self, test: Test, backend: Backend, jobs: list[ActiveJob], now: float,
                 lease: Lease | None) -> list[int]:
        """Record the real outcome of given-up jobs a poll now knows; logged once."""
        if not jobs:
            return []
        try:
            statuses = backend.poll({j.backend_id: j.work_dir for j in jobs})
        except BackendError:
            return []
        known = {j.backend_id: j for j in jobs}
        corrected = jobbook.correct_outcomes(
            [(known[bid], status) for bid, status in statuses.items() if bid in known],
            now, test.metrics_file, lease)
        if corrected:
            shown = ", ".join(str(i) for i in corrected[:20])
            add_log(test.id, f"{len(corrected)} job(s) recorded killed or lost had ended "
                    f"on their own: record corrected from their status (jobs {shown}"
                    f"{' ...' if len(corrected) > 20 else ''})", Severity.WARNING,
                    f"submit:{self.host}", at=now)
        return corrected

    # -- helpers ----------------------------------------------------------

    def _backend(self, site: Site) -> Backend:
        """The site's backend, rebuilt when its settings change."""
        fingerprint = json.dumps([site.backend, site.backend_settings], sort_keys=True)
        cached = self._backends.get(site.id)
        if cached is None or cached[0] != fingerprint:
            cached = (fingerprint, make_backend(site.backend, site.backend_settings, self.host))
            cached[1].call_timeout = self.config.backend_timeout
            self._backends[site.id] = cached
        return cached[1]

    @staticmethod
    def _credential_refusal(site: Site, now: float) -> str | None:
        name = credentials.site_credential(site)
        return credentials.refusal(name, now) if name else None

    def _note_once(self, test: Test, site: Site, message: str) -> None:
        key = (test.id, site.id, message)
        if key not in self._noted:
            self._noted.add(key)
            add_log(test.id, message, Severity.WARNING, f"submit:{self.host}")


def _describe(test: Test) -> dict:
    fields = ("id", "category", "command", "image", "network", "environment", "timeout",
              "metrics_file", "start_at", "end_at", "owner")
    return {name: getattr(test, name) for name in fields} | {"template": test.template.name}
