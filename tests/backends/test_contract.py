"""One contract, every backend: what a submit agent relies on.

Each backend supplies a `Case` (tests/backend_cases.py) that knows how to make
a job that succeeds, one that fails with a given exit code, and one that runs
long, and that skips (or fails under HC_REQUIRE_*) where its resource is missing.
"""
from __future__ import annotations

import time

import pytest

from appliance.backends import Backend, SettingsError, make_backend
from appliance.states import JobState
from tests.backend_cases import Case, FakeCase, LocalCase, make_spec, wait_final
from tests.backends.arc_ce import ArcCase
from tests.backends.docker_case import DockerCase
from tests.backends.slurm_cluster import SlurmCase


def _cases() -> list:
    # A-REX's fork batch system notices a job's end some 20 s after it: slow.
    return [FakeCase(), LocalCase(), DockerCase(), SlurmCase(),
            pytest.param(ArcCase(), marks=pytest.mark.slow)]


@pytest.fixture(params=_cases(), ids=lambda case: case.name)
def case(request) -> Case:
    request.param.ensure()
    return request.param


def submit(case: Case, backend: Backend, tmp_path, kind: str) -> tuple[str, str]:
    spec = make_spec(tmp_path, case.command(kind), image=case.image)
    backend_id = backend.submit(spec)
    assert isinstance(backend_id, str) and backend_id
    return backend_id, spec.work_dir


def test_successful_job_completes_with_exit_code_zero(case, tmp_path):
    backend = case.backend("ok")
    backend_id, folder = submit(case, backend, tmp_path, "ok")
    status = wait_final(backend, {backend_id: folder}, case.final_timeout)[backend_id]
    assert status.state is JobState.COMPLETED
    assert status.exit_code == 0
    assert status.ended_at is not None and status.ended_at <= time.time() + 1


def test_failing_job_reports_its_exit_code(case, tmp_path):
    backend = case.backend("fail")
    backend_id, folder = submit(case, backend, tmp_path, "fail")
    status = wait_final(backend, {backend_id: folder}, case.final_timeout)[backend_id]
    assert status.state is JobState.FAILED
    assert status.exit_code == 3
    assert status.reason


def test_batch_poll_answers_for_every_job(case, tmp_path):
    backend = case.backend("ok")
    jobs = dict(submit(case, backend, tmp_path, "ok") for _ in range(10))
    assert len(jobs) == 10, "backend ids must be unique"
    statuses = wait_final(backend, jobs, case.final_timeout)
    assert {s.state for s in statuses.values()} == {JobState.COMPLETED}


def test_kill_stops_a_running_job(case, tmp_path):
    backend = case.backend("long")
    backend_id, folder = submit(case, backend, tmp_path, "long")
    time.sleep(0.3)
    started = backend.poll({backend_id: folder})
    assert started.get(backend_id) is None or started[backend_id].state in (
        JobState.QUEUED, JobState.RUNNING)
    backend.kill({backend_id: folder})
    time.sleep(0.3)
    after = backend.poll({backend_id: folder}).get(backend_id)
    assert after is None or after.state not in (JobState.QUEUED, JobState.RUNNING)


def test_a_new_instance_learns_the_outcome_of_an_earlier_job(case, tmp_path):
    """What a restarted agent relies on: the backend id is enough."""
    first = case.backend("ok")
    backend_id, folder = submit(case, first, tmp_path, "ok")
    wait_final(first, {backend_id: folder}, case.final_timeout)
    restarted = case.backend("ok")
    status = wait_final(restarted, {backend_id: folder}, case.final_timeout)[backend_id]
    assert status.state is JobState.COMPLETED


def test_unknown_settings_are_refused(case):
    with pytest.raises(SettingsError, match="no_such_setting"):
        make_backend(case.name, {"no_such_setting": 1})


def test_the_agents_environment_does_not_reach_the_payload(case, tmp_path, monkeypatch):
    """A submit agent holds secrets (the database URL); a payload must not see them."""
    if case.name == "fake":
        pytest.skip("the fake backend runs no payload")
    monkeypatch.setenv("HC_DATABASE_URL", "postgresql://hc:secret-password@db/hc")
    backend = case.backend("ok")
    spec = make_spec(tmp_path, "env > seen-environment", image=case.image)
    backend_id = backend.submit(spec)
    final = wait_final(backend, {backend_id: spec.work_dir}, case.final_timeout)
    assert final[backend_id].state is JobState.COMPLETED
    with open(f"{spec.work_dir}/seen-environment") as handle:
        seen = handle.read()
    assert "secret-password" not in seen and "GREETING=hello" in seen


WRAPPED = {"local", "slurm", "arc"}  # backends whose job wrapper runs on the worker


def test_a_wrapped_job_records_its_worker_node(case, tmp_path):
    from appliance import workers

    if case.name not in WRAPPED:
        pytest.skip(f"the {case.name} backend runs no job wrapper on a worker")
    backend = case.backend("ok")
    backend_id, folder = submit(case, backend, tmp_path, "ok")
    wait_final(backend, {backend_id: folder}, case.final_timeout)
    record = workers.read(folder)
    assert record and record["host"] and record["kernel"], record
