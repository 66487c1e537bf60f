"""Contract cases: how to exercise each backend with a job that succeeds, fails
or runs long. Shared by the contract suite and backend-specific tests."""
from __future__ import annotations

import os
import time

from appliance.backends import Backend, make_backend
from appliance.backends.base import JobSpec
from appliance.states import JOB_FINAL

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
    image: str | None = None  # what the job template names (container backends)
    final_timeout = 30.0  # seconds a short job may take to be seen ended

    def ensure(self) -> None:
        """Skip (or fail under HC_REQUIRE_*) when the backend's resource is missing."""

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
