"""One contract, every backend: what a submit agent relies on.

Each backend supplies a `Case` that knows how to make a job that succeeds, one
that fails with a given exit code, and one that runs long. Other backends
(docker, slurm) add their case to CASES where their resource exists.
"""
from __future__ import annotations

import os
import time

import pytest

from appliance.backends import Backend, SettingsError, make_backend
from appliance.backends.base import JobSpec
from appliance.states import JOB_FINAL, JobState

_ids = iter(range(1, 1_000_000))


def make_spec(folder, command: str, image: str | None = None, timeout: int = 60) -> JobSpec:
    job_id = next(_ids)
    work_dir = os.path.join(str(folder), f"job-{job_id}")
    os.makedirs(work_dir)
    return JobSpec(job_id=job_id, test_id=1, site="contract", attempt=1, command=command,
                   image=image, environment={"GREETING": "hello"}, timeout=timeout,
                   work_dir=work_dir, metrics_file=os.path.join(work_dir, "metrics.json"))


class Case:
    """How to exercise one backend. `kind` is ok, fail or long."""
    name = ""
    settings: dict = {}

    def backend(self, kind: str) -> Backend:
        return make_backend(self.name, self.settings_for(kind), "contract-host")

    def settings_for(self, kind: str) -> dict:
        return dict(self.settings)

    def command(self, kind: str) -> str:
        return {"ok": "echo $GREETING", "fail": "exit 3", "long": "sleep 60"}[kind]


class LocalCase(Case):
    name = "local"
    settings = {"kill_grace": 1.0}


class FakeCase(Case):
    name = "fake"

    def settings_for(self, kind):
        return {"ok": {"run_seconds": 0.2, "poll_interval": 0.1},
                "fail": {"run_seconds": 0.2, "failure_rate": 1.0, "exit_code": 3},
                "long": {"run_seconds": 60}}[kind]


CASES = [FakeCase(), LocalCase()]


@pytest.fixture(params=CASES, ids=lambda case: case.name)
def case(request) -> Case:
    return request.param


def wait_final(backend: Backend, jobs: dict[str, str], timeout: float = 30.0) -> dict:
    """Poll until every job has a final state; return their statuses."""
    final = {}
    deadline = time.monotonic() + timeout
    while len(final) < len(jobs) and time.monotonic() < deadline:
        pending = {k: v for k, v in jobs.items() if k not in final}
        for backend_id, status in backend.poll(pending).items():
            if status.state in JOB_FINAL:
                final[backend_id] = status
        time.sleep(0.1)
    assert len(final) == len(jobs), f"not final after {timeout} s: {set(jobs) - set(final)}"
    return final


def submit(case: Case, backend: Backend, tmp_path, kind: str) -> tuple[str, str]:
    spec = make_spec(tmp_path, case.command(kind))
    backend_id = backend.submit(spec)
    assert isinstance(backend_id, str) and backend_id
    return backend_id, spec.work_dir


def test_successful_job_completes_with_exit_code_zero(case, tmp_path):
    backend = case.backend("ok")
    backend_id, folder = submit(case, backend, tmp_path, "ok")
    status = wait_final(backend, {backend_id: folder})[backend_id]
    assert status.state is JobState.COMPLETED
    assert status.exit_code == 0
    assert status.ended_at is not None and status.ended_at <= time.time() + 1


def test_failing_job_reports_its_exit_code(case, tmp_path):
    backend = case.backend("fail")
    backend_id, folder = submit(case, backend, tmp_path, "fail")
    status = wait_final(backend, {backend_id: folder})[backend_id]
    assert status.state is JobState.FAILED
    assert status.exit_code == 3
    assert status.reason


def test_batch_poll_answers_for_every_job(case, tmp_path):
    backend = case.backend("ok")
    jobs = dict(submit(case, backend, tmp_path, "ok") for _ in range(10))
    assert len(jobs) == 10, "backend ids must be unique"
    statuses = wait_final(backend, jobs)
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
    wait_final(first, {backend_id: folder})
    restarted = case.backend("ok")
    status = wait_final(restarted, {backend_id: folder})[backend_id]
    assert status.state is JobState.COMPLETED


def test_unknown_settings_are_refused(case):
    with pytest.raises(SettingsError, match="no_such_setting"):
        make_backend(case.name, {"no_such_setting": 1})
