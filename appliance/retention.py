"""Retention: what of a finished test goes, and when. Summaries, plots and the
daily rollups stay for ever; job rows, log lines and work areas age out.

Ages count from the moment the test reached its final state (Test.finished_at)
and come from the settings (HC_RETAIN_*; 0 keeps for ever). A test pinned with
`keep` is never touched, nor is a test that still has jobs out. A work area is
first packed into one archive (appliance/archives.py), which has its own age.

Rows go in batches of HC_RETENTION_BATCH, one short transaction each, with a
pause between them, so that no agent or page waits long for the database; a
pass stops after its time budget and the next pass goes on where it stopped.
Each step records when it finished for a test, so nothing is done twice.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import peewee as pw

from appliance import archives, workarea
from appliance.config import Config
from appliance.db import database, is_postgres
from appliance.errors import BadInput
from appliance.models import Job, Test, TestLog, TestSamples
from appliance.reports import summary
from appliance.states import JOB_ACTIVE, TEST_FINAL, Category

log = logging.getLogger(__name__)
PAUSE = 0.05  # seconds between batches: writers waiting for the lock go first
BUDGET = 5.0  # seconds one scheduled pass may take; the rest waits for the next


@dataclass
class Report:
    """What a pass removed (or, dry, would remove)."""
    job_rows: int = 0
    log_lines: int = 0
    archived: list = field(default_factory=list)  # test ids whose work area was packed
    archives_removed: list = field(default_factory=list)
    tests: dict = field(default_factory=dict)  # step -> [test ids]
    finished: bool = True  # False: the budget ran out, the next pass goes on
    pages_freed: int = 0  # SQLite pages given back to the file system

    def lines(self) -> list[str]:
        return [f"job rows: {self.job_rows} of {len(self.tests.get('jobs', []))} tests",
                f"test log lines: {self.log_lines} of {len(self.tests.get('logs', []))} tests",
                f"work areas packed into archives: {len(self.archived)}",
                f"archives removed: {len(self.archives_removed)}"]


def _final() -> list[str]:
    return [s.value for s in TEST_FINAL]


def _due(age: float, done_column, now: float):
    """Finished, unpinned tests older than `age` whose step `done_column` is still to do."""
    busy = Job.select(Job.id).where(Job.test == Test.id,
                                    Job.state.in_([s.value for s in JOB_ACTIVE]))
    return (Test.select(Test.id).where(Test.state.in_(_final()), ~Test.keep,
                                       Test.finished_at.is_null(False),
                                       Test.finished_at < now - age, done_column.is_null(),
                                       ~pw.fn.EXISTS(busy))
            .order_by(Test.finished_at, Test.id))


def plan(config: Config, now: float) -> Report:
    """What a full pass would remove now (counts only; changes nothing)."""
    report = Report()
    if config.retain_job_rows:
        tests = [t for (t,) in _due(config.retain_job_rows, Test.jobs_removed_at, now).tuples()]
        report.tests["jobs"] = tests
        report.job_rows = Job.select().where(Job.test.in_(tests)).count() if tests else 0
    if config.retain_test_logs:
        tests = [t for (t,) in _due(config.retain_test_logs, Test.logs_removed_at, now).tuples()]
        report.tests["logs"] = tests
        report.log_lines = TestLog.select().where(TestLog.test.in_(tests)).count() \
            if tests else 0
    if config.retain_work_areas:
        report.archived = [t for (t,) in _due(config.retain_work_areas, Test.archived_at, now)
                           .tuples() if os.path.isdir(workarea.test_dir(config.work_dir, t))]
    if config.retain_archives:
        report.archives_removed = [t for (t,) in _archives_due(config, now).tuples()]
    return report


def _archives_due(config: Config, now: float):
    return (Test.select(Test.id).where(~Test.keep, Test.archived_at.is_null(False),
                                       Test.archived_at < now - config.retain_archives,
                                       Test.archive_removed_at.is_null())
            .order_by(Test.archived_at))


def run(config: Config, now: float, budget: float | None = BUDGET,
        pause: float = PAUSE) -> Report:
    """One pass: remove what is due, batch by batch, until done or over `budget`
    seconds (None: no limit, as `hc retention` does)."""
    deadline = None if budget is None else time.monotonic() + budget
    report = Report()
    steps = [(config.retain_job_rows, Test.jobs_removed_at, Job, "jobs"),
             (config.retain_test_logs, Test.logs_removed_at, TestLog, "logs")]
    for age, done, model, name in steps:
        if not age:
            continue
        # Read the list first: an open read cursor under the writes below would make
        # SQLite refuse them ("database is locked") once another process wrote.
        for test_id in _ids(_due(age, done, now)):
            if name == "jobs":
                # The summary and plots are what stays of the jobs: make them final first.
                summary.refresh(test_id, now, final=True)
            removed = _remove_rows(model, test_id, config.retention_batch, deadline, pause)
            if removed is None:
                report.finished = False
                return report
            if name == "jobs":
                # What comparisons read of the jobs goes with them (bounded disk).
                TestSamples.delete().where(TestSamples.test == test_id).execute()
                report.job_rows += removed
            else:
                report.log_lines += removed
            report.tests.setdefault(name, []).append(test_id)
            Test.update({done: now}).where(Test.id == test_id).execute()
    if config.retain_work_areas and not _archive_work_areas(config, now, report, deadline):
        report.finished = False
        return report
    if config.retain_archives:
        for test_id in _ids(_archives_due(config, now)):
            archives.remove(config.work_dir, test_id)
            Test.update(archive_removed_at=now).where(Test.id == test_id).execute()
            report.archives_removed.append(test_id)
    report.pages_freed = compact(deadline, pause=pause)
    return report


def _ids(query) -> list[int]:
    return [test_id for (test_id,) in query.tuples()]


def _remove_rows(model, test_id: int, batch: int, deadline: float | None,
                 pause: float) -> int | None:
    """Delete a test's rows of `model`, `batch` at a time; None when out of time
    (what was removed stays removed; the next pass finishes the test)."""
    removed = 0
    while True:
        if deadline is not None and time.monotonic() > deadline:
            return None
        with database.atomic():
            ids = model.select(model.id).where(model.test == test_id).limit(batch)
            count = model.delete().where(model.id.in_(ids)).execute()
        removed += count
        if count < batch:
            return removed
        time.sleep(pause)


def _archive_work_areas(config: Config, now: float, report: Report,
                        deadline: float | None) -> bool:
    for test_id in _ids(_due(config.retain_work_areas, Test.archived_at, now)):
        if deadline is not None and time.monotonic() > deadline:
            return False
        if archives.pack(config.work_dir, test_id):
            report.archived.append(test_id)
        # Without a folder there is nothing to pack: recorded as done all the same.
        Test.update(archived_at=now).where(Test.id == test_id).execute()
    return True


def compact(deadline: float | None = None, pages: int = 1000, pause: float = PAUSE) -> int:
    """Give free pages back to the file system, `pages` at a time (SQLite with
    auto_vacuum=incremental: each step is one short write), until none is left
    or the deadline passed; returns the pages given back. PostgreSQL's
    autovacuum reclaims the space of deleted rows itself."""
    if is_postgres() or database.execute_sql("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return 0
    freed = 0
    while deadline is None or time.monotonic() < deadline:
        free = database.execute_sql("PRAGMA freelist_count").fetchone()[0]
        if not free:
            break
        database.execute_sql(f"PRAGMA incremental_vacuum({min(free, int(pages))})").fetchall()
        freed += min(free, pages)
        time.sleep(pause)
    return freed


class NotAllowed(PermissionError):
    """The user may not pin this test."""


def set_keep(test_id: int, keep: bool, user_name: str, admin: bool) -> Test:
    """Pin (keep) or unpin a stress test against retention: its owner or an admin."""
    test = Test.get_or_none(Test.id == test_id)
    if test is None:
        raise BadInput(f"no test {test_id}")
    if test.category != Category.STRESS.value:
        raise BadInput("only stress tests can be kept: functional tests live on in their "
                         "daily rollups")
    if not admin and test.owner != user_name:
        raise NotAllowed(f"only the test's owner ({test.owner}) or an admin can keep it")
    with database.atomic():
        Test.update(keep=keep).where(Test.id == test_id).execute()
        from appliance.lifecycle import add_log
        add_log(test_id, "kept: retention leaves it alone" if keep else
                "no longer kept: retention applies", actor=user_name)
    return Test.get_by_id(test_id)
