"""The arc backend: its parsers on recorded replies, and the real A-REX (fork)
with a credential of the appliance's own: our proxies, our delegations, the
agents' whole path (submit, poll, outputs and metrics back, kill, re-adoption)."""
from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest

from appliance import credentials, sitecheck
from appliance.agents.submit import SubmitAgent
from appliance.backends import BackendError, SettingsError, arcrest, make_backend
from appliance.models import Job, TestLog
from appliance.states import JOB_FINAL, JobState
from tests.backend_cases import make_spec, wait_final
from tests.backends.arc_ce import arc_ce
from tests.factories import make_running_test, make_site, make_template

REPLIES = os.path.join(os.path.dirname(__file__), "replies")


def _info() -> dict:
    with open(os.path.join(REPLIES, "arc-info.json")) as handle:
        return json.load(handle)


def test_the_site_check_reads_the_ces_health_and_queue():
    found, problem = arcrest.ce_summary(_info(), "fork")
    assert problem is None and "queue fork production" in found and "endpoints ok" in found
    assert "queue grid not found at the CE; it has: fork" in arcrest.ce_summary(_info(),
                                                                               "grid")[1]
    closed = _info()
    closed["Domains"]["AdminDomain"]["Services"]["ComputingService"]["ComputingShare"][
        "ServingState"] = "closed"
    assert arcrest.ce_summary(closed, "fork")[1] == "queue fork is closed"
    assert arcrest.ce_summary({"Domains": {}}, "fork")[1]


def test_diag_files_give_exit_code_times_and_cpu():
    diag = arcrest.parse_diag("nodename=vm\nWallTime=0.01s\nKernelTime=0.25s\nUserTime=1.5s\n"
                              "LRMSStartTime=20261202122907Z\nLRMSEndTime=20261202122910Z\n"
                              "exitcode=3\nbroken line\n")
    assert diag["exitcode"] == "3"
    assert arcrest.diag_time(diag["LRMSEndTime"]) - arcrest.diag_time(
        diag["LRMSStartTime"]) == 3
    assert arcrest.diag_time("yesterday") is None and arcrest.diag_seconds("x") is None


def test_xrsl_quotes_and_many_jobs_in_one_description(tmp_path):
    spec = make_spec(tmp_path, 'echo "a" \'b\'\nexit 0')
    one = arcrest.xrsl(spec, arcrest.job_script(spec, "metrics.json"), 'q"x', "d1", 3600)
    assert '(queue="q""x")' in one and '(outputfiles=("/" ""))' in one
    assert one.count("(&") == 0 and one.startswith("&")
    assert arcrest.many([one, one]).startswith("+(&") and arcrest.many([one]) == one


def test_an_image_runs_in_the_session_folder_never_the_agents_job_folder(tmp_path):
    import subprocess
    backend = make_backend("arc", {"endpoint": "https://ce/arex", "queue": "q",
                                   "proxy_file": "/p", "container_runtime": "podman"})
    spec = make_spec(tmp_path, "echo hi", image="127.0.0.1:5000/a/b@sha256:" + "c" * 64)
    script = backend._script(spec, "metrics.json")
    assert '-v "$HC_JOB_DIR":"$HC_JOB_DIR" -w "$HC_JOB_DIR"' in script
    assert spec.work_dir not in script, "the agent's folder means nothing on the worker"
    assert "--network=none --cap-drop=all" in script and "--user" not in script
    assert 'export HOME="/tmp/hc-home-$(id -u)"' in script, "never the session folder"
    assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0
    with open(os.path.join(spec.work_dir, "image")) as handle:
        assert handle.read() == spec.image
    plain = backend._script(make_spec(tmp_path, "echo hi"), "metrics.json")
    assert "--network=none" not in plain and "hc-home" not in plain, \
        "without an image the command runs as it is"


@pytest.mark.parametrize("settings, message", [
    ({"queue": "q", "proxy_file": "/p"}, "endpoint"),
    ({"endpoint": "http://ce/arex", "queue": "q", "proxy_file": "/p"}, "endpoint"),
    ({"endpoint": "https://ce/arex", "proxy_file": "/p"}, "queue"),
    ({"endpoint": "https://ce/arex", "queue": "q"}, "exactly one of credential"),
    ({"endpoint": "https://ce/arex", "queue": "q", "proxy_file": "/p", "credential": "c"},
     "exactly one of credential"),
    ({"endpoint": "https://ce/arex", "queue": "q", "proxy_file": "/p",
      "jobs_per_request": 0}, "jobs_per_request")])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(SettingsError, match=message):
        make_backend("arc", settings)


# -- against the real A-REX ---------------------------------------------------------

@pytest.fixture
def robot(db, settings, monkeypatch):
    """The CE's test user registered as a credential: proxies made by us."""
    ce = arc_ce("fork")
    monkeypatch.setenv("HC_SECRETS_DIR", settings.secrets_dir)
    with open(ce.user_cert, "rb") as cert, open(ce.user_key, "rb") as key:
        credentials.add_x509("robot", cert.read(), key.read(), time.time(), "tester",
                             settings.secrets_dir, proxy_lifetime=3600, refuse_before=5)
    return ce


def test_a_job_whose_id_never_reached_its_folder_is_found_by_its_name(tmp_path):
    ce = arc_ce("fork")
    backend = make_backend("arc", ce.site_settings())
    spec = make_spec(tmp_path, "sleep 60")
    backend_id = backend.submit(spec)
    os.remove(os.path.join(spec.work_dir, "arc-job.json"))  # as if killed right then
    never = make_spec(tmp_path, "true")
    successor = make_backend("arc", ce.site_settings())
    assert successor.recover(spec.work_dir) == backend_id
    assert successor.recover(never.work_dir) is None
    successor.kill({backend_id: spec.work_dir})


def test_the_ce_limits_a_job_to_the_tests_timeout_in_seconds(tmp_path):
    """A-REX reads xRSL's walltime as seconds: the limit it hands its batch system
    (the job's grami file) is the timeout and a margin, never the timeout in minutes."""
    ce = arc_ce("fork")
    backend = make_backend("arc", ce.site_settings())
    spec = dataclasses.replace(make_spec(tmp_path, "sleep 1"), timeout=300)
    assert '(walltime="360 seconds")' in arcrest.xrsl(spec, "true", "fork", None, 3600)
    backend_id = backend.submit(spec)
    grami = os.path.join(ce.root, "var", "jobstatus", f"job.{backend_id}.grami")
    deadline = time.monotonic() + 60
    while not os.path.exists(grami) and time.monotonic() < deadline:
        time.sleep(0.5)
    with open(grami) as handle:
        limits = [line.strip() for line in handle if line.startswith("joboption_walltime=")]
    assert limits == [f"joboption_walltime={300 + arcrest.WALLTIME_MARGIN}"]
    backend.kill({backend_id: spec.work_dir})


def test_one_delegation_serves_every_batch_until_the_proxy_changes(tmp_path):
    """Submissions reuse one delegation at the real CE; a renewed proxy (a new file)
    makes one new delegation, not one per batch. Our own client's calls are counted on
    their way to the CE."""
    ce = arc_ce("fork")
    backend = make_backend("arc", ce.site_settings())
    made, call = [], backend.client.call

    def counted(method, path, *args, **options):
        if method == "POST" and path.startswith("/delegations"):
            made.append(path)
        return call(method, path, *args, **options)
    backend.client.call = counted
    jobs = {}
    for _ in range(3):
        spec = make_spec(tmp_path, "sleep 30")
        jobs[backend.submit(spec)] = spec.work_dir
    specs = [make_spec(tmp_path, "sleep 30") for _ in range(2)]
    both = backend.submit_many(specs)
    assert all(isinstance(job, str) for job in both), both
    jobs.update(zip(both, [s.work_dir for s in specs], strict=True))
    assert len(made) == 1, made
    renewed = os.stat(ce.proxy).st_mtime + 5
    os.utime(ce.proxy, (renewed, renewed))  # what a renewal does: a new file
    spec = make_spec(tmp_path, "sleep 30")
    jobs[backend.submit(spec)] = spec.work_dir
    assert len(made) == 2, made
    backend.kill(jobs)


def test_our_proxy_passes_the_ces_site_check_and_an_expired_one_fails_it(robot):
    site = make_site("arc-ce", backend="arc", **robot.site_settings(proxy_file=None,
                                                                    credential="robot"))
    ok, message = sitecheck.check(site)
    assert ok, message
    assert "queue fork production" in message and "credential robot: valid until" in message
    ok, message = sitecheck.check(site, now=time.time() + 3600)
    assert not ok and "credential robot: proxy expired or about to" in message


@pytest.mark.slow
def test_a_token_credential_reaches_the_ce_as_a_bearer_token(db, settings, monkeypatch,
                                                             tmp_path):
    """No certificate, no delegation: A-REX checks the token with its issuer's keys."""
    from tests.backends.arc_ce import arc_token_ce
    ce, issuer = arc_token_ce()
    monkeypatch.setenv("HC_SECRETS_DIR", settings.secrets_dir)
    credentials.add_token("wlcg", issuer.token(), time.time(), "tester", settings.secrets_dir)
    backend = make_backend("arc", ce.site_settings(proxy_file=None, credential="wlcg"))
    assert "queue fork production" in backend.check()
    spec = make_spec(tmp_path, 'echo "token job"')
    backend_id = backend.submit(spec)
    assert backend.client.session.cert is None
    assert wait_final(backend, {backend_id: spec.work_dir}, timeout=120)[
        backend_id].state is JobState.COMPLETED
    with open(os.path.join(spec.work_dir, "stdout")) as handle:
        assert handle.read() == "token job\n"
    forged = issuer.token()[:-8] + "AAAAAAAA"
    credentials.renew("wlcg", time.time(), "tester", settings.secrets_dir, token=forged)
    with pytest.raises(BackendError, match="403"):
        make_backend("arc", ce.site_settings(proxy_file=None, credential="wlcg")).submit(
            make_spec(tmp_path, "true"))


@pytest.mark.slow
def test_agents_run_jobs_on_the_ce_and_a_restarted_agent_re_adopts_them(robot, settings):
    """Jobs over A-REX: outputs and metrics back, queue time, cleaned at the CE."""
    site = make_site("arc-ce", backend="arc", **robot.site_settings(
        proxy_file=None, credential="robot", poll_interval=1.0))
    command = ('echo "hello $HC_SITE"; echo \'{"events": 7}\' > "$HC_METRICS_FILE"; '
               'test "$HC_JOB_ID" -gt 0')
    template = make_template(sites=[site], command=command,
                             load={"max_running": 4, "job_cap": 4})
    test = make_running_test(template, settings.hostname, time.time())
    first = SubmitAgent(settings.replace(poll_interval=1.0))
    first.loop_once(time.time())
    jobs = list(Job.select().where(Job.test == test.id))
    assert len(jobs) == 4 and all(j.backend_id for j in jobs)
    first.teardown()  # the agent goes; its jobs stay at the CE
    successor = SubmitAgent(settings.replace(poll_interval=1.0))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        successor.loop_once(time.time())
        jobs = list(Job.select().where(Job.test == test.id))
        if all(JobState(j.state) in JOB_FINAL for j in jobs):
            break
        time.sleep(1)
    assert {j.state for j in jobs} == {JobState.COMPLETED.value}, [j.reason for j in jobs]
    for job in jobs:
        assert job.metrics == {"events": 7}
        with open(os.path.join(job.work_dir, "stdout")) as handle:
            assert handle.read() == "hello arc-ce\n"
        assert job.submitted_at <= job.started_at <= job.ended_at
    backend = make_backend("arc", site.backend_settings)
    backend.client.use_proxy(backend.proxy_file())
    gone = backend.client.jobs_action("status", [jobs[0].backend_id])
    assert str(gone[0]["status-code"]) == "404", "cleaned at the CE once fetched"
    assert not TestLog.select().where(TestLog.test == test.id,
                                      TestLog.message.contains("no jobs sent")).exists()
