"""Slurm backend: each job a batch job submitted with sbatch.

The commands it runs and the parsing of their replies are data and small pure
functions behind one `run(argv)`, so unit tests feed recorded replies. A poll
asks `squeue` once for the site's jobs still queued or running, and
`scontrol show job -o` once for the ones that left the queue.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping

from appliance import payload, workers
from appliance.backends import runtimes
from appliance.backends.base import (
    Backend,
    BackendError,
    JobSpec,
    JobStatus,
    SettingsError,
    check_number,
    merge_settings,
    refuse_missing_runtime,
)
from appliance.states import JobState

SCRIPT_FILE = "job.sh"
ID_FILE = "slurm-id"  # written right after sbatch: how a restarted agent finds the job
DEFAULTS = {"partition": None, "account": None, "time_limit": None, "extra_options": [],
            "poll_interval": 2.0, **runtimes.SETTINGS}

SUBMIT = ["sbatch", "--parsable", "--job-name=hc-job-{job_id}",
          "--chdir={folder}", "--output={folder}/stdout", "--error={folder}/stderr"]
QUEUE = ["squeue", "-h", "-o", "%i|%T|%S|%r", "-j", "{ids}"]
COMPLETION = ["scontrol", "show", "job", "-o"]
KILL = ["scancel"]
FIND = ["squeue", "-h", "-o", "%i", "-n", "hc-job-{job_id}"]
CHECK = ["sinfo", "-h", "-o", "%P|%a"]
# A site with a container runtime: one short step on a worker shows it is there.
CHECK_RUNTIME = ["srun", "--immediate=5", "--time=1", "--nodes=1", "--ntasks=1", "--quiet",
                 "--job-name=hc-site-check"]

STATES = {
    "PENDING": JobState.QUEUED, "CONFIGURING": JobState.QUEUED, "REQUEUED": JobState.QUEUED,
    "RESV_DEL_HOLD": JobState.QUEUED, "REQUEUE_HOLD": JobState.QUEUED,
    "RUNNING": JobState.RUNNING, "COMPLETING": JobState.RUNNING, "SUSPENDED": JobState.RUNNING,
    "STOPPED": JobState.RUNNING, "SIGNALING": JobState.RUNNING, "STAGE_OUT": JobState.RUNNING,
    "COMPLETED": JobState.COMPLETED, "CANCELLED": JobState.KILLED,
}
FAILED_STATES = ("FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL",
                 "DEADLINE")

Run = Callable[[list[str]], tuple[int, str, str]]


# What Slurm's commands get of the agent's environment; a job inherits it (the
# default --export=ALL), so nothing of the agent (database URL, secrets) reaches
# payloads. Chosen over --export=NONE, which halved the rate jobs ran at here.
COMMAND_ENVIRONMENT = ("PATH", "SLURM_CONF", "HOME", "USER", "LANG", "LC_ALL", "TZ")


def run_command(argv: list[str], timeout: float = 10.0) -> tuple[int, str, str]:
    environment = {k: os.environ[k] for k in COMMAND_ENVIRONMENT if k in os.environ}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=environment)
    except subprocess.TimeoutExpired:
        # Said first: the command line (a long job list) must not push the cause out.
        return 124, "", f"{argv[0]} timed out after {timeout:g} s"
    except OSError as error:
        return 127, "", str(error)
    return done.returncode, done.stdout, done.stderr


class SlurmBackend(Backend):
    name = "slurm"

    def __init__(self, settings, host="", run: Run = run_command):
        super().__init__(settings, host)
        self.poll_interval = self.settings["poll_interval"]
        self.run = run

    @classmethod
    def image_refusal(cls, settings):
        return runtimes.image_refusal(settings)

    @classmethod
    def validate_settings(cls, settings):
        merged = merge_settings(cls.name, DEFAULTS, settings)
        for name in ("partition", "account", "time_limit"):
            if merged[name] is not None and not isinstance(merged[name], str):
                raise SettingsError(f"{name} must be text, e.g. \"debug\" or \"01:00:00\"")
        options = merged["extra_options"]
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise SettingsError("extra_options must be a list of sbatch options")
        check_number(merged, "poll_interval", 0.1, 3600)
        runtimes.validate(merged)
        return merged

    def _call(self, argv: list[str]) -> str:
        if self.run is run_command:
            code, out, err = run_command(argv, self.call_timeout)
        else:
            code, out, err = self.run(argv)
        if code != 0 and "mmediate execution impossible" in err + out:
            return "no worker free within 5 s: the runtime was not checked this time"
        if code != 0:
            # Cut in the middle: a reply's cause is often at its end ("... timed out").
            raise BackendError(f"{argv[0]} failed ({code}): "
                               f"{payload.shorten((err or out).strip(), 1000)}")
        return out

    def check(self) -> str:
        partitions = parse_sinfo(self._call(CHECK))
        wanted = self.settings["partition"]
        if wanted and wanted not in partitions:
            raise BackendError(f"partition {wanted} not found; the cluster has "
                               + ", ".join(partitions))
        if wanted and partitions[wanted] != "up":
            raise BackendError(f"partition {wanted} is {partitions[wanted]}")
        found = f"Slurm answers; partitions: {', '.join(partitions)}"
        if self.settings["container_runtime"]:
            found += "; on a worker: " + self._check_runtime()
        return found

    def _check_runtime(self) -> str:
        argv = CHECK_RUNTIME + self._options() + ["sh", "-c", runtimes.check_command(
            self.settings)]
        code, out, err = self.run(argv)
        if code != 0 and "mmediate execution impossible" in err + out:
            return "no worker free within 5 s: the runtime was not checked this time"
        if code != 0:
            raise BackendError(f"container runtime {runtimes.command(self.settings)} not "
                               f"usable on the workers: {(out + err).strip()[:300]}")
        return out.strip().splitlines()[-1] if out.strip() else "runtime answers"

    def submit(self, spec: JobSpec) -> str:
        refuse_missing_runtime(self, spec)
        script = os.path.join(spec.work_dir, SCRIPT_FILE)
        with open(script, "w") as handle:
            handle.write(job_script(spec, self.settings))
        if spec.image:  # refuse_missing_runtime above: the site has a runtime
            runtimes.note_image(spec)
            os.chmod(spec.work_dir, 0o777)  # the job's own folder, writable by the payload's user
        argv = [part.format(job_id=spec.job_id, folder=spec.work_dir) for part in SUBMIT]
        argv += self._options() + [script]
        backend_id = self._call(argv).strip().split(";")[0]
        if not backend_id.isdigit():
            raise BackendError(f"sbatch said {backend_id!r}, not a job id")
        with open(os.path.join(spec.work_dir, ID_FILE), "w") as handle:
            handle.write(backend_id)
        return backend_id

    def _options(self) -> list[str]:
        options = []
        for name, flag in (("partition", "--partition"), ("account", "--account"),
                           ("time_limit", "--time")):
            if self.settings[name]:
                options.append(f"{flag}={self.settings[name]}")
        return options + list(self.settings["extra_options"])

    def poll(self, jobs: Mapping[str, str]) -> dict[str, JobStatus]:
        if not jobs:
            return {}
        queued = parse_squeue(self._call([p.format(ids=",".join(jobs)) for p in QUEUE]))
        statuses = {i: s for i, s in queued.items() if i in jobs}
        left = [i for i in jobs if i not in statuses]
        if left:
            finished = parse_scontrol(self._call(COMPLETION))
            for backend_id in left:
                statuses[backend_id] = finished.get(backend_id) or JobStatus(
                    JobState.LOST, reason="Slurm no longer knows the job")
                runtimes.record_outcome(statuses[backend_id], jobs[backend_id])
        return statuses

    def kill(self, jobs: Mapping[str, str]) -> None:
        if jobs:
            self._call(KILL + list(jobs))

    def recover(self, job_dir: str) -> str | None:
        try:
            with open(os.path.join(job_dir, ID_FILE)) as handle:
                return handle.read().strip() or None
        except FileNotFoundError:
            job_id = os.path.basename(job_dir.rstrip("/")).removeprefix("job-")
            found = self._call([p.format(job_id=job_id) for p in FIND]).split()
            return found[0] if found else None


def job_script(spec: JobSpec, settings: dict | None = None) -> str:
    """The batch script: the payload's variables, then its command, in the
    site's container runtime when the site has one and the test an image
    (without a runtime the command runs on the worker itself)."""
    exports = "".join(f"export {name}={shlex.quote(value)}\n"
                      for name, value in spec.payload_environment().items())
    contained = bool(settings and settings.get("container_runtime") and spec.image)
    payload = runtimes.payload_lines(spec, settings) if contained else spec.command + "\n"
    worker = workers.SNIPPET + (workers.runtime_line(settings["container_runtime"])
                                if contained else "")
    return ("#!/bin/sh\n# written by hc-appliance\n"
            "export PATH=/usr/local/bin:/usr/bin:/bin\n"
            f"export HOME={shlex.quote(spec.work_dir)}\n{exports}"
            f"cd {shlex.quote(spec.work_dir)} || exit 111\n{worker}{payload}")


def parse_sinfo(text: str) -> dict[str, str]:
    """'debug*|up' lines -> {'debug': 'up'}"""
    partitions = {}
    for line in text.splitlines():
        if "|" in line:
            name, available = line.split("|", 1)
            partitions[name.rstrip("*")] = available.strip()
    return partitions


def parse_squeue(text: str) -> dict[str, JobStatus]:
    """Lines of `%i|%T|%S|%r` (id, state, start time, reason)."""
    statuses = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2:
            continue
        backend_id, state = parts[0], parts[1]
        status = _status(state, None, _time(parts[2]) if len(parts) > 2 else None, None)
        if status.state in (JobState.QUEUED, JobState.RUNNING):
            statuses[backend_id] = status
    return statuses


_FIELD = re.compile(r"(\w+)=(\S*)")


def parse_scontrol(text: str) -> dict[str, JobStatus]:
    """`scontrol show job -o`: one line of key=value pairs per job."""
    statuses = {}
    for line in text.splitlines():
        fields = dict(_FIELD.findall(line))
        if "JobId" not in fields or "JobState" not in fields:
            continue
        exit_code = fields.get("ExitCode", "0:0").split(":")[0]
        statuses[fields["JobId"]] = _status(
            fields["JobState"], int(exit_code) if exit_code.isascii() and exit_code.isdigit()
            and len(exit_code) <= 3 else None,
            _time(fields.get("StartTime")), _time(fields.get("EndTime")),
            fields.get("Reason"))
    return statuses


def _status(state: str, exit_code: int | None, started: float | None, ended: float | None,
            reason: str | None = None) -> JobStatus:
    state = (state.split() or [""])[0].rstrip("+")  # an empty JobState= is a transient one
    if state in FAILED_STATES:
        detail = f"{state}" + (f" (exit code {exit_code})" if exit_code else "")
        return JobStatus(JobState.FAILED, started_at=started, ended_at=ended,
                         exit_code=exit_code, reason=detail)
    mapped = STATES.get(state)
    if mapped is None:
        return JobStatus(JobState.RUNNING, started_at=started)  # transient states
    if mapped is JobState.COMPLETED:
        return JobStatus(mapped, started_at=started, ended_at=ended, exit_code=exit_code or 0)
    if mapped is JobState.KILLED:
        return JobStatus(mapped, started_at=started, ended_at=ended, exit_code=exit_code,
                         reason="cancelled in Slurm")
    if mapped is JobState.QUEUED:
        return JobStatus(mapped)
    return JobStatus(mapped, started_at=started)


def _time(text: str | None) -> float | None:
    """Slurm prints local times without a zone: 2026-11-22T16:57:53."""
    if not text or text in ("Unknown", "N/A", "None") or "T" not in text:
        return None
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
