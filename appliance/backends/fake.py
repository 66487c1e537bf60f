"""Fake backend: a SIMULATED site, for tests and load simulation. It runs nothing.

A job's fate is a pure function of its backend id and the clock: the id encodes
the submit time, and a hash of the id decides the outcome. So a restarted agent
gets the same answers, and ten thousand "running" jobs cost no memory here.
Failures can be injected at submit, poll and kill.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import random
import time
from collections.abc import Mapping

from appliance import payload
from appliance.backends.base import (
    Backend,
    BackendError,
    JobSpec,
    JobStatus,
    SettingsError,
    check_number,
    merge_settings,
)
from appliance.limits import MAX_SECONDS
from appliance.states import JobState

DEFAULTS = {
    "queue_seconds": 0.0,        # time a job waits queued
    "run_seconds": 1.0,          # shortest run time
    "run_seconds_max": None,     # longest run time; None: always run_seconds
    "failure_rate": 0.0,         # share of jobs that fail (0..1)
    "exit_code": 1,              # exit code of failing jobs
    "failure_reason": "simulated failure",
    "fail_submit": 0.0,          # share of submissions refused
    "fail_poll": 0.0,            # share of polls that raise
    "fail_kill": 0.0,            # share of kills that raise
    "metrics": {},               # metrics every completed job reports
    "poll_interval": 1.0,
}
_sequence = itertools.count()


class FakeBackend(Backend):
    name = "fake"
    simulated = True

    @classmethod
    def image_refusal(cls, settings):
        return None  # it pretends to run anything

    def __init__(self, settings, host=""):
        super().__init__(settings, host)
        self.poll_interval = self.settings["poll_interval"]
        self._killed: set[str] = set()
        # backend id: (start, end, its running status): the status of a job still
        # running is the same object at every poll (one per job per poll was a third
        # of the agent's time at 100,000 running jobs). The agent never changes one.
        self._plans: dict[str, tuple[float, float, JobStatus]] = {}
        self._random = random.Random()

    @classmethod
    def validate_settings(cls, settings):
        merged = merge_settings(cls.name, DEFAULTS, settings)
        for name in ("queue_seconds", "run_seconds"):
            check_number(merged, name, 0, MAX_SECONDS)
        check_number(merged, "poll_interval", 0, 3600)
        for name in ("failure_rate", "fail_submit", "fail_poll", "fail_kill"):
            check_number(merged, name, 0, 1)
        if merged["run_seconds_max"] is not None:
            check_number(merged, "run_seconds_max", merged["run_seconds"], MAX_SECONDS)
        check_number(merged, "exit_code", 1, 255, whole=True)
        reason = merged["failure_reason"]
        if not isinstance(reason, str) or not 0 < len(reason) <= 500:
            raise SettingsError("failure_reason must be a text of 1 to 500 characters")
        try:  # the same rule as a payload's metrics file: finite numbers only
            merged["metrics"] = payload.clean_metrics(merged["metrics"])
        except payload.PayloadError as error:
            raise SettingsError(f"metrics must be a mapping of names to finite numbers: "
                                f"{error}") from None
        return merged

    def submit(self, spec: JobSpec) -> str:
        if self._random.random() < self.settings["fail_submit"]:
            raise BackendError("simulated submit failure")
        return f"fake-{os.getpid()}-{next(_sequence)}-{time.time():.3f}"

    def poll(self, jobs: Mapping[str, str]) -> dict[str, JobStatus]:
        if self._random.random() < self.settings["fail_poll"]:
            raise BackendError("simulated poll failure")
        now = time.time()
        statuses = {backend_id: self._status(backend_id, now) for backend_id in jobs
                    if backend_id not in self._killed}
        for backend_id, status in statuses.items():
            if status.state not in (JobState.QUEUED, JobState.RUNNING):
                self._plans.pop(backend_id, None)  # reported: not asked about again
        return statuses

    def kill(self, jobs: Mapping[str, str]) -> None:
        if self._random.random() < self.settings["fail_kill"]:
            raise BackendError("simulated kill failure")
        self._killed.update(jobs)

    def check(self) -> str:
        return "simulated site (fake backend)"

    def _plan(self, backend_id: str) -> tuple[float, float, JobStatus]:
        """(start, end, running status) of a simulated job, worked out once from its id
        (a hash per job per poll was most of a poll's cost at 100,000 jobs); ValueError
        for no fake id."""
        plan = self._plans.get(backend_id)
        if plan is None:
            try:
                submitted = float(backend_id.rsplit("-", 1)[1])
            except IndexError:
                raise ValueError(backend_id) from None
            settings = self.settings
            started = submitted + settings["queue_seconds"]
            longest = settings["run_seconds_max"] or settings["run_seconds"]
            ended = started + settings["run_seconds"] + (
                longest - settings["run_seconds"]) * _fraction(backend_id)
            plan = self._plans[backend_id] = (started, ended,
                                              JobStatus(JobState.RUNNING, started_at=started))
        return plan

    def _status(self, backend_id: str, now: float) -> JobStatus:
        try:
            started, ended, running = self._plan(backend_id)
        except ValueError:
            return JobStatus(JobState.LOST, ended_at=now, reason=f"not a fake job id: {backend_id}")
        if now < ended:
            return running if now >= started else JobStatus(JobState.QUEUED)
        settings = self.settings
        run = ended - started
        if _fraction(backend_id + "/fate") < settings["failure_rate"]:
            return JobStatus(JobState.FAILED, started_at=started, ended_at=ended,
                             exit_code=settings["exit_code"], cpu_seconds=run,
                             reason=settings["failure_reason"])
        return JobStatus(JobState.COMPLETED, started_at=started, ended_at=ended, exit_code=0,
                         cpu_seconds=run, metrics=dict(settings["metrics"]) or None)


def _fraction(text: str) -> float:
    """A stable number in [0, 1) derived from `text`."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
