"""A stress test on a grid site end to end: the real agents (processes) sending
jobs through A-REX to its Slurm cluster, with a credential of the appliance's
own. Jobs complete with their outputs and metrics in their job folders, one is
killed at the CE, and a submit agent killed with SIGKILL mid-test is succeeded
by another that re-adopts its CE jobs by their stored CE ids."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from appliance.backends import make_backend
from appliance.models import Job, Test
from appliance.states import JOB_ACTIVE, TestState
from tests.backends.arc_ce import arc_ce
from tests.integration.harness import running_appliance, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# Job 1 (the first of the fresh database) outlives the test and is killed at its end.
PAYLOAD = ('echo "hello $HC_SITE"; [ "$HC_JOB_ID" = 1 ] && sleep 600; sleep 2; '
           'echo "{\\"events\\": $HC_JOB_ID}" > "$HC_METRICS_FILE"')


@pytest.fixture
def appliance(tmp_path):
    ce = arc_ce("slurm")
    with running_appliance(str(tmp_path / "data"),
                           HC_SITE_CHECK_INTERVAL="5") as instance:
        instance.hc("credential", "add", "robot", "--cert", ce.user_cert, "--key", ce.user_key,
                    "--proxy-lifetime", "2h")
        settings = {"endpoint": ce.endpoint, "queue": ce.queue, "ca_dir": ce.ca_dir,
                    "credential": "robot", "poll_interval": 1.0}
        instance.hc("site", "add", "grid", "--backend", "arc",
                    *[f"--set={k}={json.dumps(v)}" for k, v in settings.items()])
        document = {"name": "grid-stress", "duration": "75s", "sites": ["grid"],
                    "load": {"max_running": 4}, "job": {"command": PAYLOAD, "timeout": "5m"}}
        instance.hc("template", "add", "-", stdin=json.dumps(document))
        yield instance


def _jobs(test_id: int) -> list[Job]:
    return list(Job.select().where(Job.test == test_id).order_by(Job.id))


def test_a_stress_test_over_arex_on_slurm_survives_a_killed_submit_agent(appliance):
    appliance.start("server", "server")
    appliance.start("submit-a", "submit")
    appliance.hc("test", "create", "grid-stress", "--approve")
    test_id = Test.select().get().id
    # Mid-test: jobs at the CE, some of them beyond queued.
    wait_for(lambda: sum(j.state == "running" for j in _jobs(test_id)) >= 2, 90,
             what="jobs running at the CE")
    before = {j.id: j.backend_id for j in _jobs(test_id) if j.backend_id}
    appliance.kill("submit-a")  # SIGKILL
    appliance.start("submit-b", "submit")
    wait_for(lambda: Test.get_by_id(test_id).submit_host == "submit-b", 30, what="take-over")
    wait_for(lambda: Test.get_by_id(test_id).state == TestState.COMPLETED.value, 150,
             what="the test completed")
    jobs = {j.id: j for j in _jobs(test_id)}
    assert not [j for j in jobs.values() if j.state in {s.value for s in JOB_ACTIVE}]
    adopted = [jobs[i] for i in before if i != 1]
    assert adopted and all(j.backend_id == before[j.id] for j in adopted), "same CE ids"
    assert {j.state for j in adopted} == {"completed"}, [(j.id, j.state, j.reason)
                                                         for j in adopted]
    done = [j for j in jobs.values() if j.state == "completed"]
    assert len(done) >= 4, [(j.id, j.state, j.reason) for j in jobs.values()]
    assert any(j.submit_host == "submit-b" for j in done), "the successor's own jobs ran"
    for job in done:
        assert job.metrics == {"events": job.id}
        with open(os.path.join(job.work_dir, "stdout")) as handle:
            assert handle.read() == "hello grid\n"
        assert job.submitted_at <= job.started_at <= job.ended_at
    killed = jobs[1]
    assert killed.state == "killed" and "end of the test" in (killed.reason or ""), killed.reason
    # At the CE: the killed job ended (its sleep gone from Slurm), the others cleaned.
    ce = arc_ce("slurm")
    backend = make_backend("arc", ce.site_settings())
    backend.client.use_proxy(ce.proxy)
    # A-REX acts on a kill in its own processing loop (then scancel): on a loaded
    # machine (a full test run) that took more than a minute once.
    seen: list[str] = []
    try:
        wait_for(lambda: seen.append(_ce_state(backend, killed.backend_id)) or seen[-1] in (
            "KILLED", "GONE"), 150, what="the killed job ended at the CE")
    except AssertionError as timeout:
        raise AssertionError(f"{timeout}; CE states seen: {sorted(set(seen))}") from None
    wait_for(lambda: not subprocess.run(["squeue", "-h"], capture_output=True,
                                        text=True).stdout.strip(), 60, what="Slurm empty")
    assert _ce_state(backend, done[0].backend_id) == "GONE", "cleaned once fetched"
    _no_secret_anywhere(appliance)


def _no_secret_anywhere(appliance) -> None:
    """Nothing of the key or the proxies in the work area, the agents' logs or what
    the CLI prints about the credential and the site."""
    secrets_dir = os.path.join(appliance.data_dir, "secrets", "robot")
    secrets = []
    for name in ("key.pem", "proxy.pem"):
        with open(os.path.join(secrets_dir, name)) as handle:
            secrets += [line for line in handle.read().splitlines()
                        if len(line) > 40 and "-----" not in line]
    assert len(secrets) > 20
    texts = [appliance.hc(*argv).stdout for argv in (
        ("credential", "show", "robot"), ("credential", "list"), ("site", "list"))]
    for folder in (appliance.work_dir, appliance.data_dir):
        for path, _, files in os.walk(folder):
            if path.startswith(os.path.join(appliance.data_dir, "secrets")):
                continue
            for file in files:
                if not file.endswith((".sqlite", ".sqlite-wal", ".sqlite-shm")):
                    with open(os.path.join(path, file), errors="replace") as handle:
                        texts.append(handle.read())
    everything = "\n".join(texts)
    assert not [line for line in secrets if line in everything]


def _ce_state(backend, backend_id: str) -> str:
    (answer,) = backend.client.jobs_action("status", [backend_id])
    if str(answer.get("status-code")) == "404":
        return "GONE"
    return str(answer.get("state", "")).upper()
