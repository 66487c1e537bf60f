"""Local backend details beyond the contract: the status file and process identity."""
from __future__ import annotations

import os
import subprocess
import time

from appliance.backends.local import LocalBackend, read_status
from appliance.states import JobState
from tests.backend_cases import make_spec, wait_final


def _write(folder, text: str) -> None:
    with open(os.path.join(folder, "status"), "w") as handle:
        handle.write(text)


def test_status_file_is_read_only_when_complete(tmp_path):
    assert read_status(str(tmp_path)) is None
    _write(tmp_path, "exit 0\n0m0.00s 0m0.00s\n")  # half written
    assert read_status(str(tmp_path)) is None
    _write(tmp_path, "exit 2\n0m0.01s 0m0.00s\n1m2.500000s 0m0.500s\nend\n")
    status = read_status(str(tmp_path))
    assert status.state is JobState.FAILED and status.exit_code == 2
    assert status.cpu_seconds == 63.0 and status.reason == "exit code 2"


def test_payload_environment_output_and_cpu(tmp_path):
    backend = LocalBackend({})
    spec = make_spec(tmp_path, 'echo "$GREETING $HC_SITE $HOME"; echo oops >&2; '
                               'python3 -c "sum(range(3*10**6))"')
    backend_id = backend.submit(spec)
    status = wait_final(backend, {backend_id: spec.work_dir})[backend_id]
    assert status.state is JobState.COMPLETED and status.cpu_seconds > 0
    with open(os.path.join(spec.work_dir, "stdout")) as handle:
        assert handle.read() == f"hello contract {spec.work_dir}\n"
    with open(os.path.join(spec.work_dir, "stderr")) as handle:
        assert handle.read() == "oops\n"


def test_kill_reaches_the_whole_process_group(tmp_path):
    backend = LocalBackend({"kill_grace": 0.5})
    spec = make_spec(tmp_path, "sleep 60 & sleep 60 & wait")
    backend_id = backend.submit(spec)
    time.sleep(0.3)
    backend.kill({backend_id: spec.work_dir})
    listing = subprocess.run(["ps", "-o", "stat=", "-g", backend_id], capture_output=True,
                             text=True).stdout.split()
    assert [state for state in listing if not state.startswith("Z")] == []  # zombies are dead


def test_a_recycled_pid_is_not_taken_for_the_job(tmp_path):
    """After a restart, a pid now used by another process must not look alive."""
    other = subprocess.Popen(["sleep", "30"], cwd="/")
    try:
        folder = make_spec(tmp_path, "true").work_dir
        status = LocalBackend({}).poll({str(other.pid): folder})[str(other.pid)]
        assert status.state is JobState.LOST and "without writing its status" in status.reason
    finally:
        other.kill()
        other.wait()


def test_recover_reads_the_pid_file(tmp_path):
    folder = make_spec(tmp_path, "true").work_dir
    backend = LocalBackend({})
    assert backend.recover(folder) is None
    with open(os.path.join(folder, "pid"), "w") as handle:
        handle.write("4242\n")
    assert backend.recover(folder) == "4242"
