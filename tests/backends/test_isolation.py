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
