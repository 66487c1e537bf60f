"""The agents as real processes, on SQLite and PostgreSQL: a stress test end to end,
functional re-creation, fail-over between submit hosts, and kill -9 recovery."""
from __future__ import annotations

import json
import os
import time

import pytest

from appliance import workarea
from appliance.models import Job, Site, Test
from appliance.states import JOB_FINAL, JobState, TestState
from tests.integration.harness import wait_for

pytestmark = pytest.mark.integration


def _template(appliance, name: str, sites: list[str], command: str, category: str = "stress",
              duration: str = "20s", max_running: int = 3) -> None:
    document = {"name": name, "category": category, "duration": duration, "sites": sites,
                "load": {"max_running": max_running},
                "job": {"command": command, "timeout": "1m"}}
    appliance.hc("template", "add", "-", stdin=json.dumps(document))


def _local_sites(appliance, count: int) -> list[str]:
    names = [f"site-{n}" for n in range(1, count + 1)]
    for name in names:
        appliance.hc("site", "add", name, "--backend", "local")
    return names


def _state(test_id: int) -> str:
    return Test.get_by_id(test_id).state


def _check_work_area(appliance, test_id: int) -> dict:
    """Every job folder matches exactly one job row, and every row is final."""
    folders = workarea.job_folders(appliance.work_dir, test_id)
    jobs = {job.id: job for job in Job.select().where(Job.test == test_id)}
    assert set(folders) <= set(jobs), f"folders without a job row: {set(folders) - set(jobs)}"
    for job in jobs.values():
        assert JobState(job.state) in JOB_FINAL, f"job {job.id} is still {job.state}"
        if job.state != JobState.LOST.value:
            assert job.id in folders, f"job {job.id} ({job.state}) has no folder"
            site = Site.get_by_id(job.site_id).name
            assert folders[job.id] == workarea.job_dir(appliance.work_dir, test_id, site, job.id)
    counts = {}
    for job in jobs.values():
        counts[job.state] = counts.get(job.state, 0) + 1
    return counts


@pytest.mark.slow
def test_stress_test_runs_end_to_end(appliance):
    sites = _local_sites(appliance, 3)
    command = 'sleep 1; echo "{\\"answer\\": 42}" > "$HC_METRICS_FILE"'
    _template(appliance, "stress", sites, command)
    appliance.start("server", "server")
    appliance.start("submit-a", "submit")
    appliance.hc("test", "create", "stress", "--duration", "20s", "--approve")
    test_id = Test.select().get().id
    wait_for(lambda: _state(test_id) == TestState.RUNNING.value, 15, what="running")
    running = wait_for(lambda: Job.select().where(Job.state == "running").count() == 9, 10,
                       what="3 sites x 3 running jobs")
    assert running
    wait_for(lambda: _state(test_id) == TestState.COMPLETED.value, 30, what="completed")
    counts = _check_work_area(appliance, test_id)
    test = Test.get_by_id(test_id)
    assert counts.get("completed", 0) >= 3 * 3 * 10, counts  # ~1 s jobs for ~20 s
    assert counts.get("killed", 0) <= 9 and counts.get("failed", 0) == 0
    assert test.jobs_total == sum(counts.values()) and test.jobs_completed == counts["completed"]
    # End times come from the status file's mtime: the kernel's coarse clock, a few ms.
    assert test.efficiency == 1.0 and 0.98 <= test.wall_p50 < 1.5
    done = Job.select().where(Job.test == test_id, Job.state == "completed")
    assert all(job.metrics == {"answer": 42} and job.exit_code == 0 for job in done)
    shown = appliance.hc("test", "show", str(test_id)).stdout
    assert "completed" in shown and "site-3" in shown


def test_functional_template_keeps_recreating_its_test(appliance):
    sites = _local_sites(appliance, 2)
    _template(appliance, "ping", sites, "echo ping", category="functional", duration="2s",
              max_running=1)
    appliance.start("server", "server")
    appliance.start("submit-a", "submit")
    wait_for(lambda: Test.select().where(Test.state == TestState.COMPLETED.value).count() >= 3,
             30, what="three functional tests completed")
    live = Test.select().where(Test.state.not_in(["completed"])).count()
    assert live <= 1
    for test in Test.select().where(Test.state == TestState.COMPLETED.value):
        assert test.jobs_completed >= 2, f"test {test.id} ran no job per site"


@pytest.mark.slow
def test_a_dead_submit_hosts_test_is_finished_by_another(appliance):
    sites = _local_sites(appliance, 2)
    _template(appliance, "stress", sites, "sleep 1")
    appliance.start("server", "server")
    appliance.start("submit-a", "submit")
    appliance.hc("test", "create", "stress", "--duration", "15s", "--approve")
    test_id = Test.select().get().id
    wait_for(lambda: _state(test_id) == TestState.RUNNING.value, 15, what="running")
    appliance.start("submit-b", "submit")
    time.sleep(1)
    appliance.kill("submit-a")
    wait_for(lambda: Test.get_by_id(test_id).submit_host == "submit-b", 15, what="fail-over")
    wait_for(lambda: _state(test_id) == TestState.COMPLETED.value, 30, what="completed")
    counts = _check_work_area(appliance, test_id)
    hosts = {job.submit_host for job in Job.select().where(Job.test == test_id)}
    assert hosts == {"submit-a", "submit-b"}, "both hosts submitted jobs"
    assert counts.get("completed", 0) >= 10


@pytest.mark.slow
def test_kill_9_and_restart_loses_nothing(appliance):
    sites = _local_sites(appliance, 3)
    _template(appliance, "stress", sites, "sleep 0.5", max_running=5)
    appliance.start("server", "server")
    appliance.start("submit", "submit", host="node-1")
    appliance.hc("test", "create", "stress", "--duration", "12s", "--approve")
    test_id = Test.select().get().id
    wait_for(lambda: Job.select().where(Job.test == test_id).count() >= 40, 20,
             what="jobs flowing")
    appliance.kill("submit")  # SIGKILL in the middle of the test
    before = Job.select().where(Job.test == test_id).count()
    time.sleep(1.5)  # jobs end while no agent watches them
    appliance.start("submit", "submit", host="node-1")
    wait_for(lambda: _state(test_id) == TestState.COMPLETED.value, 30, what="completed")
    counts = _check_work_area(appliance, test_id)
    assert sum(counts.values()) > before, "the restarted agent carried on submitting"
    assert counts.get("completed", 0) >= 40
    lost = list(Job.select().where(Job.test == test_id, Job.state == "lost"))
    assert len(lost) <= 5, [job.reason for job in lost]
    folders = workarea.job_folders(appliance.work_dir, test_id)
    for job_id, folder in folders.items():
        job = Job.get_by_id(job_id)
        if job.state == "completed":
            assert os.path.exists(os.path.join(folder, "status"))


@pytest.mark.slow
@pytest.mark.parametrize("appliance", ["postgres"], indirect=True)
def test_agents_survive_a_database_restart(appliance, postgres_url):
    postgres = postgres_url
    sites = _local_sites(appliance, 2)
    _template(appliance, "stress", sites, "sleep 0.5")
    appliance.start("server", "server")
    appliance.start("submit-a", "submit")
    appliance.hc("test", "create", "stress", "--duration", "12s", "--approve")
    test_id = Test.select().get().id
    wait_for(lambda: Job.select().where(Job.test == test_id).count() >= 10, 20, what="jobs")
    from appliance.db import database
    database.close()
    postgres.restart()
    wait_for(lambda: _state(test_id) == TestState.COMPLETED.value, 40, what="completed")
    counts = _check_work_area(appliance, test_id)
    assert counts.get("completed", 0) >= 20 and counts.get("lost", 0) == 0
    assert all(process.poll() is None for process in appliance.processes.values())
    assert "reconnecting" in appliance.logs(), "the restart went unnoticed"
