"""Slurm backend: the parsers against replies recorded from a real cluster, the
commands it builds (through an injected `run`), and settings validation."""
from __future__ import annotations

import os

import pytest

from appliance.backends import SettingsError, make_backend
from appliance.backends.slurm import SlurmBackend, parse_scontrol, parse_sinfo, parse_squeue
from appliance.states import JobState
from tests.backend_cases import make_spec

REPLIES = os.path.join(os.path.dirname(__file__), "replies")


def _reply(name: str) -> str:
    with open(os.path.join(REPLIES, name)) as handle:
        return handle.read()


def test_squeue_reply():
    statuses = parse_squeue(_reply("squeue.txt"))
    assert statuses["4"].state is JobState.QUEUED
    assert statuses["3"].state is JobState.RUNNING and statuses["3"].started_at


def test_scontrol_reply_maps_every_outcome():
    statuses = parse_scontrol(_reply("scontrol.txt"))
    assert statuses["1"].state is JobState.COMPLETED and statuses["1"].exit_code == 0
    assert statuses["2"].state is JobState.FAILED and statuses["2"].exit_code == 3
    assert statuses["2"].reason == "FAILED (exit code 3)"
    assert statuses["3"].state is JobState.KILLED
    assert statuses["4"].state is JobState.QUEUED
    assert statuses["1"].ended_at >= statuses["1"].started_at


def test_timeout_is_a_failure_with_its_reason():
    # A real FAILED line with the state a time limit gives (TIMEOUT, signal 15).
    status = parse_scontrol(_reply("scontrol-timeout.txt"))["5"]
    assert status.state is JobState.FAILED and status.reason.startswith("TIMEOUT")


def test_sinfo_reply():
    assert parse_sinfo(_reply("sinfo.txt")) == {"debug": "up"}


def test_commands_built_from_site_settings(tmp_path):
    calls = []

    def run(argv):
        calls.append(argv)
        if argv[0] == "sbatch":
            return 0, "42\n", ""
        if argv[0] == "squeue":
            return 0, "", ""
        return 0, _reply("scontrol.txt").replace("JobId=1 ", "JobId=42 "), ""

    backend = SlurmBackend({"partition": "debug", "account": "atlas", "time_limit": "00:10:00",
                            "extra_options": ["--mem=100M"]}, "host", run=run)
    spec = make_spec(tmp_path, "echo $GREETING")
    assert backend.submit(spec) == "42"
    sbatch = calls[0]
    assert "--partition=debug" in sbatch and "--account=atlas" in sbatch
    assert "--time=00:10:00" in sbatch and "--mem=100M" in sbatch
    assert sbatch[-1] == os.path.join(spec.work_dir, "job.sh")
    with open(sbatch[-1]) as handle:
        script = handle.read()
    assert "export GREETING=hello" in script and script.rstrip().endswith("echo $GREETING")
    assert backend.recover(spec.work_dir) == "42"
    statuses = backend.poll({"42": spec.work_dir})
    assert statuses["42"].state is JobState.COMPLETED
    assert [c[0] for c in calls[1:]] == ["squeue", "scontrol"], "one query of each per poll"


@pytest.mark.parametrize("settings,message", [
    ({"partition": 3}, "partition must be text"),
    ({"extra_options": "--mem=1G"}, "extra_options must be a list"),
    ({"queue": "x"}, "unknown slurm setting 'queue'"),
])
def test_settings_are_validated(settings, message):
    with pytest.raises(SettingsError, match=message):
        make_backend("slurm", settings)


def _contained_spec(tmp_path, image="127.0.0.1:5000/a/b@sha256:" + "c" * 64):
    from tests.backend_cases import make_spec

    return make_spec(tmp_path, "echo 'hi'", image=image)


def test_podman_script_isolates_the_payload(tmp_path):
    from appliance.backends.slurm import SlurmBackend, job_script

    settings = SlurmBackend.validate_settings({"container_runtime": "podman"})
    script = job_script(_contained_spec(tmp_path), settings)
    assert "--user 10001:10001 --network=none --cap-drop=all" in script
    assert "--tls-verify=false" in script, "a loopback registry has no TLS"
    assert "-e HC_JOB_DIR" in script and "--pull=never" in script
    bare = job_script(_contained_spec(tmp_path, image=None), settings)
    assert "podman run" not in bare, "a test without an image runs its command directly"


def test_apptainer_script(tmp_path):
    from appliance.backends.slurm import SlurmBackend, job_script

    settings = SlurmBackend.validate_settings({"container_runtime": "apptainer",
                                               "registry_auth_file": "/etc/hc/auth.json"})
    script = job_script(_contained_spec(tmp_path), settings)
    assert "apptainer exec --containall --cleanenv --no-home --net --network none" in script
    assert "docker://127.0.0.1:5000/a/b@sha256:" in script and "--nohttps" in script
    assert "--authfile=/etc/hc/auth.json" in script
    assert 'export APPTAINERENV_HC_JOB_DIR="$HC_JOB_DIR"' in script


@pytest.mark.parametrize("settings, message", [
    ({"container_runtime": "docker"}, "container_runtime must be one of podman, apptainer"),
    ({"container_runtime": "podman", "user": "root"}, "user must not be root"),
    ({"pull": "often"}, "pull must be one of"),
    ({"insecure_registries": "127.0.0.1:5000"}, "insecure_registries must be a list"),
])
def test_runtime_settings_are_validated(settings, message):
    from appliance.backends import SettingsError
    from appliance.backends.slurm import SlurmBackend

    with pytest.raises(SettingsError, match=message):
        SlurmBackend.validate_settings(settings)
