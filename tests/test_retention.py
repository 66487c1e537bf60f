"""Retention with a fixed clock: what goes, what stays (pinned tests, tests
still running, summaries and rollups), batches and budgets, archives."""
from __future__ import annotations

import os
import tarfile

import pytest

from appliance import archives, lifecycle, retention, workarea
from appliance.agents import jobbook
from appliance.compare import samplestore
from appliance.db import database, open_database, upgrade
from appliance.errors import BadInput
from appliance.health import robot
from appliance.models import DailyRollup, Job, Test, TestLog, TestSamples
from appliance.reports import queries
from appliance.states import JobState, TestState
from tests.factories import make_site, make_template

DAY = 86400
T0 = 1_900_000_000.0  # the fixed clock


@pytest.fixture
def world(db, settings):
    return _world(settings)


@pytest.fixture
def postgres_world(postgres_database, settings):
    connection = open_database(postgres_database)
    upgrade()
    try:
        yield _world(settings)
    finally:
        connection.close()
        database.initialize(None)


def _world(settings):
    site = make_site("ret")
    stress = make_template("ret-stress", sites=[site])
    functional = make_template("ret-fun", sites=[site], category="functional")
    config = settings.replace(retain_job_rows=30 * DAY, retain_work_areas=7 * DAY,
                              retain_archives=90 * DAY, retain_test_logs=180 * DAY,
                              retention_batch=7)
    made = {}
    for name, template, finished in (("old", stress, True), ("kept", stress, True),
                                     ("fun", functional, True), ("live", stress, False)):
        test = lifecycle.create_test(template, T0 - DAY, T0, "bob", state=TestState.RUNNING)
        rows = [dict(test=test.id, site=site.id, attempt=n, state="running", created_at=T0 - 100,
                     started_at=T0 - 50) for n in range(20)]
        Job.insert_many(rows).execute()
        jobbook.end_jobs(jobbook.active_jobs(test.id), JobState.COMPLETED, "done", T0 - 10)
        folder = workarea.job_dir(config.work_dir, test.id, site.name, 1)
        os.makedirs(folder)
        with open(os.path.join(folder, "stdout"), "w") as handle:
            handle.write(f"output of {name}\n")
        if finished:
            lifecycle.move_test(test.id, TestState.COMPLETED, "server", at=T0)
        made[name] = test.id
    retention.set_keep(made["kept"], True, "bob", admin=False)
    return config, made


def _jobs(test_id):
    return Job.select().where(Job.test == test_id).count()


def test_nothing_is_due_before_its_age(world):
    config, made = world
    assert retention.plan(config, T0 + 6 * DAY).lines() == retention.Report().lines()
    assert retention.run(config, T0 + 6 * DAY, pause=0).job_rows == 0
    assert all(_jobs(t) == 20 for t in made.values())


def test_dry_run_names_what_a_pass_then_removes(world):
    _a_pass_removes_what_the_dry_run_named(*world)


@pytest.mark.postgres
def test_dry_run_and_pass_on_postgres(postgres_world):
    _a_pass_removes_what_the_dry_run_named(*postgres_world)


def _a_pass_removes_what_the_dry_run_named(config, made):
    now = T0 + 31 * DAY
    # The server kept what comparisons read of the stress tests once they settled.
    assert sorted(samplestore.keep_settled(T0 + DAY)) == sorted([made["old"], made["kept"]])
    rollups_before = list(DailyRollup.select().tuples())
    counts_before = queries.site_counts(made["old"])
    matrix_before = robot.matrix(7, end=T0)
    planned = retention.plan(config, now)
    assert sorted(planned.tests["jobs"]) == sorted([made["old"], made["fun"]])
    assert planned.job_rows == 40 and planned.archived == [made["old"], made["fun"]]
    assert _jobs(made["old"]) == 20  # a dry run changes nothing
    done = retention.run(config, now, pause=0)
    assert (done.job_rows, done.finished) == (40, True)
    assert sorted(done.archived) == sorted([made["old"], made["fun"]])
    assert [_jobs(made[n]) for n in ("old", "fun", "kept", "live")] == [0, 0, 20, 20]
    # ...and they go with the job rows they were made from.
    assert [t for (t,) in TestSamples.select(TestSamples.test).tuples()] == [made["kept"]]
    # Summaries and rollups stay: the robot shows the same numbers.
    assert list(DailyRollup.select().tuples()) == rollups_before
    assert robot.matrix(7, end=T0) == matrix_before
    assert queries.site_counts(made["old"]) == counts_before  # from the stored summary
    old = Test.get_by_id(made["old"])
    assert old.jobs_removed_at == now and old.archived_at == now
    assert not os.path.isdir(workarea.test_dir(config.work_dir, made["old"]))
    with tarfile.open(archives.path(config.work_dir, made["old"])) as tar:
        member = tar.extractfile(f"{made['old']}/ret/job-1/stdout")
        assert member.read() == b"output of old\n"
    assert os.path.isdir(workarea.test_dir(config.work_dir, made["kept"]))
    assert os.path.isdir(workarea.test_dir(config.work_dir, made["live"]))
    again = retention.run(config, now + DAY, pause=0)  # nothing twice
    assert (again.job_rows, again.archived) == (0, [])


def test_logs_and_archives_have_their_own_ages(world):
    config, made = world
    retention.run(config, T0 + 31 * DAY, pause=0)
    assert TestLog.select().where(TestLog.test == made["old"]).count() > 0
    later = retention.run(config, T0 + 31 * DAY + 90 * DAY + 1, pause=0)
    assert later.archives_removed == [made["old"], made["fun"]] or \
        sorted(later.archives_removed) == sorted([made["old"], made["fun"]])
    assert not os.path.exists(archives.path(config.work_dir, made["old"]))
    logs = retention.run(config, T0 + 181 * DAY, pause=0)
    assert logs.log_lines > 0
    assert TestLog.select().where(TestLog.test == made["old"]).count() == 0
    assert TestLog.select().where(TestLog.test == made["kept"]).count() > 0


def test_a_pass_over_its_budget_stops_and_the_next_goes_on(world):
    config, made = world
    now = T0 + 31 * DAY
    stopped = retention.run(config, now, budget=0.0, pause=0)
    assert not stopped.finished and stopped.job_rows == 0
    rest = retention.run(config, now, pause=0)
    assert rest.finished and rest.job_rows == 40


def test_zero_keeps_for_ever(world):
    config, made = world
    forever = config.replace(retain_job_rows=0, retain_work_areas=0, retain_archives=0,
                             retain_test_logs=0)
    report = retention.run(forever, T0 + 3650 * DAY, pause=0)
    assert (report.job_rows, report.log_lines, report.archived) == (0, 0, [])


def test_only_the_owner_or_an_admin_keeps_and_only_stress_tests(world):
    _, made = world
    with pytest.raises(retention.NotAllowed):
        retention.set_keep(made["old"], True, "mallory", admin=False)
    assert retention.set_keep(made["old"], True, "root", admin=True).keep
    with pytest.raises(BadInput, match="only stress tests"):
        retention.set_keep(made["fun"], True, "root", admin=True)
    with pytest.raises(BadInput, match="no test"):
        retention.set_keep(10 ** 9, True, "root", admin=True)
    assert not Test.get_by_id(made["fun"]).keep


def test_sqlite_gives_the_space_back(world, db):
    config, made = world
    TestLog.insert_many([dict(test=made["old"], at=T0, severity="testinfo", message="x" * 500)
                         for _ in range(3000)]).execute()
    pages = db.execute_sql("PRAGMA page_count").fetchone()[0]
    report = retention.run(config.replace(retain_test_logs=DAY), T0 + 2 * DAY, pause=0)
    assert report.log_lines > 3000 and report.pages_freed > 300
    assert db.execute_sql("PRAGMA page_count").fetchone()[0] <= pages - 300
    assert db.execute_sql("PRAGMA freelist_count").fetchone()[0] == 0
