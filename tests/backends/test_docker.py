"""Docker backend beyond the contract: safety defaults, outputs, digests, images."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess

import pytest

from appliance.backends import SettingsError, make_backend
from appliance.states import JobState
from tests.backend_cases import make_spec, wait_final
from tests.backends.docker_case import IMAGE, DockerCase


@pytest.fixture(scope="module")
def image():
    DockerCase().ensure()
    return IMAGE


def _run(tmp_path, image, command, **settings):
    backend = make_backend("docker", {"poll_interval": 0.2, **settings}, "test-host")
    spec = make_spec(tmp_path, command, image=image)
    backend_id = backend.submit(spec)
    return backend, spec, backend_id, wait_final(backend, {backend_id: spec.work_dir})[backend_id]


def test_outputs_metrics_digest_and_cleanup(tmp_path, image):
    command = 'echo out; echo err >&2; printf \'{"n": 3}\' > "$HC_METRICS_FILE"; id -u'
    backend, spec, backend_id, status = _run(tmp_path, image, command)
    assert status.state is JobState.COMPLETED
    with open(os.path.join(spec.work_dir, "stdout")) as handle:
        assert handle.read() == "out\n10001\n", "never root"
    with open(os.path.join(spec.work_dir, "stderr")) as handle:
        assert handle.read() == "err\n"
    with open(spec.metrics_file) as handle:
        assert json.load(handle) == {"n": 3}
    inspected = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", image],
                               capture_output=True, text=True).stdout.strip()
    assert status.extra["image_digest"] == inspected
    assert status.started_at and status.ended_at >= status.started_at
    gone = subprocess.run(["docker", "inspect", backend_id], capture_output=True)
    assert gone.returncode != 0, "the container is removed once collected"


def test_network_is_off_unless_enabled(tmp_path, image):
    """Without network a payload has only loopback and no route to anywhere."""
    command = "ls /sys/class/net; echo routes; cat /proc/net/route"
    _, spec, _, _ = _run(tmp_path, image, command)
    with open(os.path.join(spec.work_dir, "stdout")) as handle:
        interfaces, routes = handle.read().split("routes\n")
    assert interfaces.split() == ["lo"] and len(routes.strip().splitlines()) <= 1
    _, spec, _, _ = _run(tmp_path, image, command, network=True)
    with open(os.path.join(spec.work_dir, "stdout")) as handle:
        interfaces, routes = handle.read().split("routes\n")
    assert "eth0" in interfaces.split() and len(routes.strip().splitlines()) >= 2
    backend = make_backend("docker", {"poll_interval": 0.2}, "test-host")
    spec = dataclasses.replace(make_spec(tmp_path, command, image=image), network=True)
    wait_final(backend, {backend.submit(spec): spec.work_dir})
    with open(os.path.join(spec.work_dir, "stdout")) as handle:
        assert "eth0" in handle.read().split(), "the template asked for a network"


def test_missing_image_is_a_clear_failure(tmp_path, image):
    backend = make_backend("docker", {"pull": "never"}, "test-host")
    spec = make_spec(tmp_path, "true", image="hc-test/no-such-image:1")
    with pytest.raises(Exception, match="not on the Docker host and this site does not pull "
                       "images .pull: never."):
        backend.submit(spec)


def test_failure_and_memory_limit(tmp_path, image):
    _, _, _, status = _run(tmp_path, image, "exit 7")
    assert status.state is JobState.FAILED and status.exit_code == 7


@pytest.mark.parametrize("settings,message", [
    ({"user": "0:0"}, "user: payloads never run as root"),
    ({"network": "yes"}, "network must be true or false"),
    ({"cpus": 0}, "cpus must be between"),
    ({"pull": "sometimes"}, "pull must be one of always, if-not-present, never"),
    ({"volume": "/"}, "unknown docker setting 'volume'"),
])
def test_settings_are_validated(settings, message):
    with pytest.raises(SettingsError, match=message):
        make_backend("docker", settings)


def test_payload_cannot_reach_the_appliance(tmp_path, image, monkeypatch):
    """Finding 3 on Docker: the payload's container holds its own folder only; the agent's
    environment, the database, a secrets file and another job's folder are out of reach,
    and nothing outside its folder can be written."""
    secret = "s3cret-" + "d" * 40
    monkeypatch.setenv("HC_SECRET_KEY", secret)   # this process plays the agent
    data = tmp_path / "data"
    data.mkdir()
    (data / "hc.sqlite").write_text("SQLite format 3")
    (data / "secrets.env").write_text(f"HC_SECRET_KEY={secret}\n")
    _, other, _, _ = _run(tmp_path, image, "echo private output")
    script = "\n".join([
        'try() { if eval "$2" >/dev/null 2>&1; then echo "LEAKED $1"; else echo "DENIED $1"; fi; }',
        f'try agent-environ "grep -a {secret} /proc/*/environ"',
        f'try environment "env | grep -q {secret}"',
        f'try database "head -c 6 {data}/hc.sqlite"',
        f'try secrets-file "cat {data}/secrets.env"',
        f'try other-job "cat {other.work_dir}/stdout"',
        f'try outside-write "touch {tmp_path}/planted"',
        'try root-write "touch /planted"',
        'echo own > own-file && echo OWN-OK'])
    _, spec, _, status = _run(tmp_path, image, script)
    with open(os.path.join(spec.work_dir, "stdout")) as handle:
        output = handle.read()
    assert status.state is JobState.COMPLETED and "LEAKED" not in output, output
    assert output.count("DENIED") == 7 and "OWN-OK" in output, output
    assert not (tmp_path / "planted").exists()
