"""The backend contract: how a submit agent runs jobs on one kind of resource.

A backend instance serves one site (its settings come from the site row).
`submit` one job, `poll` a batch, `kill` a batch. Capabilities are class
attributes. Implementations raise BackendError for anything the agent should
record as a failure rather than crash on.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from appliance.errors import BadInput
from appliance.states import JobState


class BackendError(Exception):
    """The backend could not do what was asked; the message says why."""


def timed_out(error: BackendError) -> bool:
    """Did the resource not answer in time (the job may have been submitted all the
    same; the site is backed off) rather than refuse?"""
    return "timed out" in str(error)


class SettingsError(BadInput):
    """A site's backend settings are invalid; the message names the setting."""


@dataclass(frozen=True)
class JobSpec:
    """Everything a backend needs to run one job."""
    job_id: int
    test_id: int
    site: str
    attempt: int
    command: str
    image: str | None
    environment: dict
    timeout: int
    work_dir: str       # the job's own folder; exists before submit is called
    metrics_file: str   # absolute path the payload may write its metrics to
    network: bool = False  # the template asks for a network (container backends)

    def payload_environment(self) -> dict[str, str]:
        """What every payload sees besides the template's own environment."""
        return {**{str(k): str(v) for k, v in self.environment.items()},
                "HC_JOB_DIR": self.work_dir, "HC_METRICS_FILE": self.metrics_file,
                "HC_TEST_ID": str(self.test_id), "HC_SITE": self.site,
                "HC_JOB_ID": str(self.job_id)}


@dataclass
class JobStatus:
    """What a poll learnt about one job. Unknown fields stay None."""
    state: JobState
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    cpu_seconds: float | None = None
    reason: str | None = None
    metrics: dict | None = None      # when the backend has them itself
    extra: dict = field(default_factory=dict)


class Backend:
    """Base class. Subclasses set `name` and implement submit, poll and kill."""

    name: ClassVar[str] = ""
    # Seconds between polls of one site's jobs.
    poll_interval: ClassVar[float] = 5.0
    # True when a submitted job runs at once (no batch queue): the agent records
    # it as running from submission on.
    starts_immediately: ClassVar[bool] = False
    # True when submit_many hands a whole batch over at once (one request to a CE):
    # the agent then calls it instead of submit for each job.
    submits_in_batches: ClassVar[bool] = False
    # True for backends that only pretend to run jobs.
    simulated: ClassVar[bool] = False
    # Seconds one call to the resource (a batch command, a daemon request) may take;
    # the submit agent sets it from HC_BACKEND_TIMEOUT, well below HC_AGENT_DEAD_AFTER.
    call_timeout: float = 10.0
    # True when jobs are processes of the submitting node (its containers cannot see
    # each other's): another node taking its tests over must not declare them lost.
    host_local: ClassVar[bool] = False

    def __init__(self, settings: Mapping, host: str = ""):
        self.settings = self.validate_settings(settings)
        self.host = host

    @classmethod
    def image_refusal(cls, settings: Mapping) -> str | None:
        """Why a site with these (validated) settings cannot run a payload's container
        image, or None when it can. A job is never run without the image it asked for."""
        return f"the {cls.name} backend runs commands on its host, not container images"

    @classmethod
    def validate_settings(cls, settings: Mapping) -> dict:
        """Return the settings with defaults filled in; raise SettingsError if invalid."""
        if settings:
            raise SettingsError(f"backend {cls.name} takes no settings, got: "
                                + ", ".join(sorted(settings)))
        return {}

    def submit(self, spec: JobSpec) -> str:
        """Start the job; return its backend id. Raise BackendError if it cannot."""
        raise NotImplementedError

    def submit_many(self, specs: list[JobSpec]) -> list[str | BackendError]:
        """Submit a batch: for each spec, in order, its backend id or the error.

        Backends that can hand many jobs to their resource at once override this
        (one request for the batch); the default submits one by one.
        """
        outcomes: list[str | BackendError] = []
        for spec in specs:
            try:
                outcomes.append(self.submit(spec))
            except BackendError as error:
                outcomes.append(error)
        return outcomes

    def poll(self, jobs: Mapping[str, str]) -> dict[str, JobStatus]:
        """Statuses for a batch of {backend id: job folder}.

        Jobs missing from the answer are unchanged since the last poll. A job
        the backend has no trace of is reported LOST with a reason.
        """
        raise NotImplementedError

    def kill(self, jobs: Mapping[str, str]) -> None:
        """Stop a batch of {backend id: job folder}; jobs already ended are fine."""
        raise NotImplementedError

    def check(self) -> str:
        """Verify the resource is reachable and usable; return what was found.

        Raise BackendError saying what is wrong. Must not start jobs.
        """
        return "nothing to check"

    def recover(self, job_dir: str) -> str | None:
        """The backend id of a job whose submission was interrupted, if it started.

        Called for jobs left pending without an id by an agent that died while
        submitting. None means the job left no trace and never ran.
        """
        return None

    def close(self) -> None:
        """Release connections; the agent calls this when it stops."""


MAX_SETTING = 1e9   # no backend number is larger; a bound even where none is given


def check_number(settings: dict, name: str, lowest: float, highest: float = MAX_SETTING,
                 whole: bool = False):
    """settings[name] is a finite number in [lowest, highest] (a whole one if `whole`)."""
    value = settings[name]
    if not isinstance(value, (int, float)) or isinstance(value, bool) \
            or (whole and not isinstance(value, int)):
        kind = "a whole number" if whole else "a number"
        raise SettingsError(f"{name} must be {kind}, not {value!r}"[:300])
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, not {value!r}")
    if not lowest <= value <= highest:
        raise SettingsError(f"{name} must be between {lowest} and {highest}, not {value!r}"[:300])


def merge_settings(backend: str, defaults: dict, settings: Mapping) -> dict:
    """Defaults overlaid with `settings`; unknown names are refused. Every backend
    takes `credential`: the name of the credential its jobs use (appliance/credentials.py)."""
    defaults = {"credential": None, **defaults}
    unknown = set(settings) - set(defaults)
    if unknown:
        raise SettingsError(f"unknown {backend} setting {sorted(unknown)[0]!r}; known: "
                            + ", ".join(sorted(defaults)))
    merged = {**defaults, **settings}
    if merged["credential"] is not None and not isinstance(merged["credential"], str):
        raise SettingsError("credential must be a credential's name (hc credential list)")
    return merged


def refuse_missing_runtime(backend: Backend, spec: JobSpec) -> None:
    """A job with an image on a site that cannot run images fails with the reason; it
    never runs its command on the bare host instead."""
    if spec.image:
        refusal = backend.image_refusal(backend.settings)
        if refusal:
            raise BackendError(f"the job's image {spec.image} cannot run here: {refusal}")
