"""A submit node partitioned from the database past HC_AGENT_DEAD_AFTER, with real
agent processes: the server gives its test to a second node that cannot see the
first one's processes (its own PID namespace, as in another container). The site
never runs more jobs than its max_running (counted from /proc, not the database),
the first node says once that it lost the test, and every job ends with its true
outcome. On SQLite the cut is a SIGSTOP of the node; on PostgreSQL a TCP proxy
between the node and the database, cut and restored."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlparse

import pytest

from appliance.db import database, open_database, upgrade
from appliance.models import Job, Test, TestLog
from appliance.states import JOB_FINAL
from tests.faults.conftest import TcpProxy
from tests.integration.harness import Appliance, wait_for

MAX_RUNNING, JOBS = 3, 9
TEMPLATE = {"name": "partition", "duration": "10m", "sites": ["cut-site"],
            "load": {"max_running": MAX_RUNNING, "job_cap": JOBS},
            "job": {"command": "sleep 5", "timeout": "2m"}}


class ProcessCount(threading.Thread):
    """The most job processes ever alive at once under `work_dir` (seen from /proc)."""

    def __init__(self, work_dir: str):
        super().__init__(daemon=True)
        self.work_dir, self.most, self.stopping = os.path.realpath(work_dir), 0, False

    def run(self) -> None:
        while not self.stopping:
            self.most = max(self.most, self._count())
            time.sleep(0.1)

    def _count(self) -> int:
        folders = set()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if b"hc-job" not in handle.read():
                        continue
                folder = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if folder.startswith(self.work_dir):
                folders.add(folder)
        return len(folders)


def _blind_node(instance: Appliance, name: str) -> subprocess.Popen:
    """A submit agent in its own PID namespace (root): it cannot see the other's jobs."""
    if os.geteuid() != 0:
        return instance.start(name, "submit")
    log = open(os.path.join(instance.data_dir, f"{name}.log"), "ab")  # noqa: SIM115
    process = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc",
                                "--kill-child=SIGTERM", sys.executable, "-m", "appliance",
                                "submit"], env=dict(instance.environ, HC_HOSTNAME=name),
                               stdout=log, stderr=subprocess.STDOUT)
    log.close()
    instance.processes[name] = process
    return process


def _exited_0(job: Job) -> bool:
    try:
        with open(os.path.join(job.work_dir, "status")) as handle:
            return handle.read().startswith("exit 0")
    except (OSError, TypeError):
        return False


def _run(instance: Appliance, cut, restore, node_a_url: str | None = None) -> None:
    instance.hc("site", "add", "cut-site", "--backend", "local")
    instance.hc("template", "add", "-", stdin=json.dumps(TEMPLATE))
    counter = ProcessCount(instance.work_dir)
    counter.start()
    instance.start("server", "server")
    direct = instance.environ.get("HC_DATABASE_URL")
    if node_a_url:  # only node-a goes through the proxy
        instance.environ["HC_DATABASE_URL"] = node_a_url
    instance.start("node-a", "submit")
    if direct:
        instance.environ["HC_DATABASE_URL"] = direct
    instance.hc("test", "create", "partition", "--approve")
    wait_for(lambda: Job.select().where(Job.state == "running").count() == MAX_RUNNING, 30,
             what="the first wave running on node-a")
    _blind_node(instance, "node-b")
    time.sleep(1.5)  # node-b beats
    cut()
    wait_for(lambda: Test.get().submit_host == "node-b", 30, what="the takeover")
    time.sleep(2)  # node-b works on the test while node-a is still away
    restore()
    final = [s.value for s in JOB_FINAL]
    wait_for(lambda: Job.select().where(Job.state.in_(final)).count() == JOBS, 90,
             what=f"all {JOBS} jobs final\n{instance.logs()}")
    counter.stopping = True
    counter.join()
    jobs = list(Job.select())
    assert counter.most <= MAX_RUNNING, f"{counter.most} job processes at once"
    assert len(jobs) == JOBS
    for job in jobs:  # the true outcome: a job that exited 0 is recorded completed
        assert _exited_0(job) == (job.state == "completed"), (job.id, job.state, job.reason)
        assert job.state in ("completed", "killed"), (job.id, job.state, job.reason)
    said = TestLog.select().where(TestLog.message.contains("node-a lost this test"))
    assert said.count() == 1, instance.logs()
    with open(os.path.join(instance.data_dir, "node-a.log")) as handle:
        assert handle.read().count("node-a lost this test") == 1


@pytest.mark.slow
def test_a_stalled_node_taken_over_on_sqlite(tmp_path):
    instance = Appliance(str(tmp_path))
    instance.hc("db", "upgrade")
    open_database(f"sqlite:///{tmp_path}/hc.sqlite")
    try:
        _run(instance, lambda: instance.processes["node-a"].send_signal(signal.SIGSTOP),
             lambda: instance.processes["node-a"].send_signal(signal.SIGCONT))
    finally:
        instance.processes["node-a"].send_signal(signal.SIGCONT)
        instance.stop_all()
        database.close()
        database.initialize(None)


@pytest.mark.slow
def test_a_node_cut_off_from_postgresql_taken_over(tmp_path, postgres_database):
    real = urlparse(postgres_database)
    proxy = TcpProxy(real.port)
    instance = Appliance(str(tmp_path), postgres_database)
    instance.hc("db", "upgrade")
    open_database(postgres_database)
    upgrade()
    through_proxy = postgres_database.replace(f":{real.port}/", f":{proxy.port}/")
    try:
        _run(instance, proxy.cut, proxy.restore, through_proxy)
    finally:
        instance.stop_all()
        proxy.close()
        database.close()
        database.initialize(None)
