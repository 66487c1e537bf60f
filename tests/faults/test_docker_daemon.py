"""The Docker backend against a daemon that hangs and an agent killed between a
container's create and its start: every request is bounded by the backend
timeout, and a container left created is started as its job (or removed), never
left behind."""
from __future__ import annotations

import contextlib
import random
import socket
import threading
import time

import pytest

from appliance.agents.submit import SubmitAgent
from appliance.backends import BackendError, make_backend
from appliance.models import Job
from tests.backends.docker_case import IMAGE, DockerCase
from tests.factories import make_running_test, make_site, save_template


@pytest.fixture
def hanging_daemon(tmp_path):
    """A unix socket that accepts requests and never answers them."""
    path = str(tmp_path / "docker.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    held = []

    def accept():
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    yield f"unix://{path}"
    listener.close()
    for connection in held:
        connection.close()


def test_every_request_to_a_hanging_daemon_times_out(hanging_daemon, tmp_path):
    backend = make_backend("docker", {"base_url": hanging_daemon}, "node")
    backend.call_timeout = 1.0
    for call in (backend.check, lambda: backend.poll({"abc": str(tmp_path)}),
                 lambda: backend.recover(str(tmp_path / "job-1")),
                 lambda: backend.kill({"abc": str(tmp_path)})):
        started = time.monotonic()
        with pytest.raises(BackendError, match="timed out"):
            call()
        assert time.monotonic() - started < 5


@pytest.fixture
def docker_site(db):
    DockerCase().ensure()
    return make_site(backend="docker", poll_interval=0.2)


def _killed_between_create_and_start(monkeypatch):
    import docker.models.containers

    def killed(self, **kwargs):
        raise SystemExit("agent killed")
    monkeypatch.setattr(docker.models.containers.Container, "start", killed)


def _labelled(job_id: int) -> list:
    import docker
    client = docker.from_env()
    try:
        return client.containers.list(all=True, filters={"label": f"org.hc-appliance.job={job_id}"})
    finally:
        client.close()


def test_a_container_left_created_is_started_as_its_job(db, settings, docker_site,
                                                        monkeypatch):
    template = save_template({"name": "leftover", "sites": [docker_site.name],
                              "job": {"command": "echo ran", "image": IMAGE},
                              "load": {"max_running": 1, "resubmit": False}})
    test = make_running_test(template, settings.hostname, time.time())
    # Job ids of a fresh database start at 1: past any other test's containers.
    Job.create(id=random.randrange(10**6, 10**9), test=test.id, site=docker_site.id, attempt=0,
               state="completed", created_at=time.time())
    first = SubmitAgent(settings.replace(poll_interval=0.2))
    with monkeypatch.context() as patched:
        _killed_between_create_and_start(patched)
        with pytest.raises(SystemExit):
            first.loop_once(time.time())
    (job,) = Job.select().where(Job.test == test.id, Job.state != "completed")
    assert job.state == "pending" and job.backend_id is None
    assert [c.status for c in _labelled(job.id)] == ["created"]
    restarted = SubmitAgent(settings.replace(poll_interval=0.2))
    deadline = time.monotonic() + 60
    while Job.get_by_id(job.id).state != "completed" and time.monotonic() < deadline:
        restarted.loop_once(time.time())
        time.sleep(0.2)
    job = Job.get_by_id(job.id)
    assert job.state == "completed", (job.state, job.reason)
    assert _labelled(job.id) == [], "collected and removed, nothing left behind"
    restarted.teardown()


def test_extra_containers_of_one_job_are_removed(db, settings, docker_site, tmp_path):
    import docker
    backend = make_backend("docker", {"poll_interval": 0.2}, "node")
    client = docker.from_env()
    label = {"org.hc-appliance.job": "987654321"}
    made = [client.containers.create(IMAGE, ["/bin/sh", "-c", "true"], labels=label)
            for _ in range(2)]
    try:
        adopted = backend.recover(str(tmp_path / "job-987654321"))
        left = _labelled(987654321)
        assert [c.id for c in left] == [adopted]
        assert left[0].status != "created"
    finally:
        for container in made:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        client.close()
        backend.close()
