"""Finding 3: a payload cannot reach the appliance. Run as its own uid
(HC_PAYLOAD_USER), it tries to read the agents' environment, the database, a
secrets file and another job's folder, and to write outside its own folder:
every attempt fails, and its own folder stays usable."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from appliance.backends.base import JobSpec, SettingsError
from appliance.backends.local import LocalBackend, payload_ids
from appliance.db import open_database
from appliance.states import JobState
from tests.conftest import require

UIDS = "231000-231999"
SECRET = "s3cret-" + "f" * 40

# Each line prints DENIED or LEAKED; the payload's own folder must stay writable.
ATTEMPTS = """
try() {{ if eval "$2" >/dev/null 2>&1; then echo "LEAKED $1"; else echo "DENIED $1"; fi; }}
try agent-environ "grep -a {secret} /proc/{agent}/environ"
try test-environ "grep -a {secret} /proc/{me}/environ"
try database "head -c 16 {database}"
try secrets-file "cat {secrets}"
try other-job-read "cat {other}/stdout"
try other-job-list "ls {other}"
try other-job-write "touch {other}/planted"
try work-area-write "touch {work}/planted"
try data-dir-write "touch {data}/planted"
echo own > own-file && echo OWN-OK
"""


@pytest.fixture
def isolated(monkeypatch):
    if os.geteuid() != 0:
        require("SWITCH_USER", "switching to the payload's uid needs root (CI runs as root)")
    top = pathlib.Path(tempfile.mkdtemp(prefix="hc-isolation-"))   # pytest's is 0700
    os.chmod(top, 0o755)
    data = top / "data"
    data.mkdir(mode=0o755)
    database = data / "hc.sqlite"
    open_database(f"sqlite:///{database}").execute_sql("CREATE TABLE secret (x)")
    secrets_file = data / "secrets.env"
    secrets_file.write_text(f"HC_SECRET_KEY={SECRET}\n")
    os.chmod(secrets_file, 0o600)
    agent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             env={**os.environ, "HC_SECRET_KEY": SECRET})
    monkeypatch.setenv("HC_SECRET_KEY", SECRET)   # this process plays an agent too
    yield {"data": data, "database": database, "secrets": secrets_file, "agent": agent.pid}
    agent.kill()
    agent.wait()
    shutil.rmtree(top)


def _run(backend, folder, job_id, command):
    os.makedirs(folder, mode=0o755)
    spec = JobSpec(job_id=job_id, test_id=1, site="local", attempt=1, command=command,
                   image=None, environment={}, timeout=60, work_dir=str(folder),
                   metrics_file=str(folder / "metrics.json"))
    backend_id = backend.submit(spec)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = backend.poll({backend_id: str(folder)}).get(backend_id)
        if status is not None:
            return status
        time.sleep(0.1)
    raise AssertionError("the job did not end")


def test_local_payload_cannot_reach_the_appliance(isolated):
    backend = LocalBackend(LocalBackend.validate_settings({"payload_user": UIDS}))
    work = isolated["data"] / "work" / "tests" / "1" / "local"
    other, mine = work / "job-1", work / "job-2"
    assert _run(backend, other, 1, "echo private output").state == JobState.COMPLETED
    script = ATTEMPTS.format(secret=SECRET, agent=isolated["agent"], me=os.getpid(),
                             database=isolated["database"], secrets=isolated["secrets"],
                             other=other, work=work, data=isolated["data"])
    status = _run(backend, mine, 2, script)
    output = (mine / "stdout").read_text()
    assert status.state == JobState.COMPLETED, (mine / "stderr").read_text()
    assert "LEAKED" not in output, output
    assert output.count("DENIED") == 9 and "OWN-OK" in output
    assert os.stat(mine / "own-file").st_uid == payload_ids(UIDS, 2)[0]
    assert (other / "stdout").read_text() == "private output\n", "readable by the agent"


def test_payload_user_setting_is_checked():
    for bad in ("root", "0", "nobody-such-user", "5-1", "0-10"):
        with pytest.raises(SettingsError, match="payload_user"):
            LocalBackend.validate_settings({"payload_user": bad})
    assert payload_ids("", 5) is None
    assert payload_ids("1000-1009", 23) == (1003, 1003)


AGENT_UID = 232000   # plays the container's hc user: not root, switching by capability
CAPS = "+setuid,+setgid,+chown,+kill"
AS_AGENT = """
import json, os, sys, time
from appliance.backends.base import JobSpec
from appliance.backends.local import LocalBackend, missing_switch_capabilities
work = sys.argv[1]
print(json.dumps({"missing": missing_switch_capabilities()}), flush=True)
if missing_switch_capabilities():
    sys.exit(0)
spec = JobSpec(job_id=7, test_id=1, site="local", attempt=1, command="sleep 2; id -u",
               image=None, environment={}, timeout=60, work_dir=work,
               metrics_file=os.path.join(work, "metrics.json"))
settings = LocalBackend.validate_settings({"payload_user": sys.argv[2]})
backend_id = LocalBackend(settings).submit(spec)
time.sleep(0.5)
# A restarted agent: no memory of its children, the payload's cwd not readable.
fresh = LocalBackend(settings)
early = fresh.poll({backend_id: work})
while not (final := fresh.poll({backend_id: work})):
    time.sleep(0.1)
print(json.dumps({"early": sorted(early), "state": final[backend_id].state.value}))
"""


def test_an_agent_that_is_not_root_switches_payloads_by_capability(isolated, tmp_path):
    """The container's case: the submit agent runs as a plain uid holding only the
    capabilities setuid, setgid, chown and kill; its payloads run as their own uid with
    none; a restarted agent still sees its running job as running."""
    top = pathlib.Path(tempfile.mkdtemp(prefix="hc-capagent-"))
    os.chmod(top, 0o755)
    work = top / "job-7"
    work.mkdir()
    os.chown(work, AGENT_UID, AGENT_UID)
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": os.getcwd()}
    base = ["setpriv", f"--reuid={AGENT_UID}", f"--regid={AGENT_UID}", "--clear-groups"]
    try:
        plain = subprocess.run([*base, sys.executable, "-c", AS_AGENT, str(work), UIDS],
                               env=environ, capture_output=True, text=True, timeout=60)
        assert "capabilities setuid, setgid, chown and kill" in plain.stdout, plain.stderr
        granted = subprocess.run([*base, f"--inh-caps={CAPS}", f"--ambient-caps={CAPS}",
                                  sys.executable, "-c", AS_AGENT, str(work), UIDS],
                                 env=environ, capture_output=True, text=True, timeout=60)
        lines = granted.stdout.splitlines()
        assert lines and lines[0] == '{"missing": null}', granted.stdout + granted.stderr
        assert lines[1:] == ['{"early": [], "state": "completed"}'], granted.stdout + granted.stderr
        assert (work / "stdout").read_text().strip() == str(payload_ids(UIDS, 7)[0])
        status = (work / "status").read_text()
        assert status.startswith("exit 0")
        # The payload held no capability at all, and could not gain one.
        probe = top / "job-8"
        probe.mkdir()
        os.chown(probe, AGENT_UID, AGENT_UID)
        script = AS_AGENT.replace('"sleep 2; id -u"',
                                  '"grep -E \'^(Cap|NoNewPrivs)\' /proc/self/status"')
        subprocess.run([*base, f"--inh-caps={CAPS}", f"--ambient-caps={CAPS}",
                        sys.executable, "-c", script.replace("job_id=7", "job_id=8"),
                        str(probe), UIDS], env=environ, capture_output=True, timeout=60)
        caps = dict(line.split(":") for line in (probe / "stdout").read_text().splitlines())
        assert {k: v.strip() for k, v in caps.items() if k != "CapBnd"} == {
            "CapInh": "0" * 16, "CapPrm": "0" * 16, "CapEff": "0" * 16, "CapAmb": "0" * 16,
            "NoNewPrivs": "1"}, "no capability, and no setuid program can give one back"
    finally:
        shutil.rmtree(top, ignore_errors=True)
