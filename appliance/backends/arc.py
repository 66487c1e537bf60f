"""ARC CE backend: jobs go to a NorduGrid A-REX through its REST interface.

Submission sends many jobs in one request, all using one delegation of our
proxy that is reused until the proxy changes (renewed) or nears its end. A poll
asks the CE once for the states of the whole batch; a job that ended has its
stdout, stderr and metrics file brought back into its job folder, its diag
(exit code, start and end, CPU) and, when it failed, what the CE said about
why; then the CE is told to clean it. What was learnt stays in the job folder
(`arc-final.json`), so a later poll or another agent gets the same answer.

The CE job id is written into the job folder right after submission
(`arc-job.json`): a restarted or taking-over agent re-adopts by it.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping

from appliance import gridcert
from appliance.backends import arcrest, runtimes
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

JOB_FILE = "arc-job.json"      # {"id": CE job id, "metrics": file name}, right after submit
FINAL_FILE = "arc-final.json"  # what the CE said when the job ended
DEFAULTS = {"endpoint": None, "queue": None, "credential": None, "proxy_file": None,
            "ca_dir": "/etc/grid-security/certificates", "poll_interval": 10.0,
            "http_timeout": 60.0, "session_lifetime": 86400, "jobs_per_request": 200,
            # A CE's jobs run as its mapped account: rootless, so no `user` of ours.
            **runtimes.SETTINGS, "user": None}
# A delegation is replaced this long before the proxy it was made from ends.
DELEGATION_MARGIN = 600.0
# Seconds the CE's list of job names serves recoveries (a pass recovers many jobs).
NAMES_FRESH = 30.0


class ArcBackend(Backend):
    name = "arc"
    submits_in_batches = True

    def __init__(self, settings, host=""):
        super().__init__(settings, host)
        self.poll_interval = self.settings["poll_interval"]
        self.client = arcrest.Client(self.settings["endpoint"], self.settings["ca_dir"],
                                     self.settings["http_timeout"])
        self._delegation: tuple[str, float, float] | None = None  # id, proxy mtime, expiry
        self._killed: set[str] = set()  # to clean once the CE shows them ended
        self._names: tuple[float, dict[str, str]] | None = None  # for recover

    @classmethod
    def validate_settings(cls, settings):
        merged = merge_settings(cls.name, DEFAULTS, settings)
        endpoint = merged["endpoint"]
        if not isinstance(endpoint, str) or not endpoint.startswith("https://"):
            raise SettingsError("endpoint must be the CE's https:// URL, e.g. "
                                "https://ce.example.org:443/arex")
        if not isinstance(merged["queue"], str) or not merged["queue"]:
            raise SettingsError("queue must name the CE's queue, e.g. \"grid\"")
        if (merged["credential"] is None) == (merged["proxy_file"] is None):
            raise SettingsError("give exactly one of credential (a name from "
                                "`hc credential list`) or proxy_file (a path)")
        for name in ("credential", "proxy_file", "ca_dir"):
            if merged[name] is not None and not isinstance(merged[name], str):
                raise SettingsError(f"{name} must be text")
        check_number(merged, "poll_interval", 0.1)
        check_number(merged, "http_timeout", 1, 3600)
        check_number(merged, "session_lifetime", 600)
        check_number(merged, "jobs_per_request", 1, 1000)
        runtimes.validate(merged)
        return merged

    # -- credential and delegation ------------------------------------------

    def proxy_file(self) -> str:
        if self.settings["proxy_file"]:
            return self.settings["proxy_file"]
        from appliance import credentials
        try:
            return credentials.usable_proxy(self.settings["credential"])
        except credentials.CredentialError as error:
            raise BackendError(str(error)) from None

    def _token(self) -> str | None:
        """The bearer token when the site's credential is a token (else None): sent
        as `Authorization: Bearer`, no client certificate, no delegation."""
        if not self.settings["credential"]:
            return None
        from appliance import credentials
        try:
            if credentials.get(self.settings["credential"]).kind != credentials.TOKEN:
                return None
            with open(credentials.payload_file(self.settings["credential"])) as handle:
                return handle.read().strip()
        except (credentials.CredentialError, OSError) as error:
            raise BackendError(f"cannot use the token: {error}") from None

    def _authenticate(self) -> None:
        """The client presents the site's credential: its token, or its proxy."""
        token = self._token()
        if token is not None:
            self.client.use_token(token)
        else:
            self.client.use_proxy(self.proxy_file())

    def _delegation_id(self) -> str | None:
        """The current delegation, made anew when our proxy changed or nears its end;
        None with a token (jobs get no proxy then)."""
        token = self._token()
        if token is not None:
            self.client.use_token(token)
            return None
        path = self.proxy_file()
        now = time.time()
        try:
            mtime = os.stat(path).st_mtime
        except OSError as error:
            raise BackendError(f"cannot use the proxy: {error}") from None
        current = self._delegation
        # Checked before reading the proxy: loading its key costs tens of ms, more
        # than the rest of a small batch.
        if current and current[1] == mtime and current[2] - DELEGATION_MARGIN > now:
            self.client.use_proxy(path)
            return current[0]
        try:
            with open(path, "rb") as handle:
                identity = gridcert.load_identity(handle.read())
        except (OSError, gridcert.CertificateError) as error:
            raise BackendError(f"cannot use the proxy: {error}") from None
        expiry = gridcert.not_after(identity.certificate)
        if expiry <= now:
            raise BackendError("the proxy has expired")
        self.client.use_proxy(path)
        answer = self.client.call("POST", "/delegations?action=new")
        location = answer.headers.get("Location", "").rstrip("/")
        delegation = location.rsplit("/", 1)[-1]
        if not delegation:
            raise BackendError("the CE gave no delegation id")
        signed = gridcert.sign_delegation(identity, answer.content, now)
        self.client.call("PUT", f"/delegations/{delegation}", data=signed)
        self._delegation = (delegation, mtime, expiry)
        return delegation

    # -- the contract ------------------------------------------------------

    @classmethod
    def image_refusal(cls, settings):
        return runtimes.image_refusal(settings)

    def submit(self, spec: JobSpec) -> str:
        outcome = self.submit_many([spec])[0]
        if isinstance(outcome, BackendError):
            raise outcome
        return outcome

    def submit_many(self, specs: list[JobSpec]) -> list[str | BackendError]:
        """One request per `jobs_per_request` jobs; an id or the CE's refusal per job."""
        refused: dict[int, BackendError] = {}
        for n, spec in enumerate(specs):
            try:
                refuse_missing_runtime(self, spec)
            except BackendError as refusal:
                refused[n] = refusal
        going = [spec for n, spec in enumerate(specs) if n not in refused]
        if not going:
            return [refused[n] for n in range(len(specs))]
        delegation = self._delegation_id()
        submitted: list[str | BackendError] = []
        size = int(self.settings["jobs_per_request"])
        for start in range(0, len(going), size):
            submitted += self._submit_chunk(going[start:start + size], delegation)
        answers = iter(submitted)
        return [refused[n] if n in refused else next(answers) for n in range(len(specs))]

    def _submit_chunk(self, specs: list[JobSpec], delegation: str | None) -> list:
        names = [os.path.relpath(s.metrics_file, s.work_dir) for s in specs]
        descriptions = [arcrest.xrsl(s, self._script(s, n), self.settings["queue"],
                                     delegation, int(self.settings["session_lifetime"]))
                        for s, n in zip(specs, names, strict=True)]
        answers = self.client.submit(arcrest.many(descriptions))
        if len(answers) != len(specs):
            raise BackendError(f"the CE answered for {len(answers)} of {len(specs)} jobs")
        outcomes: list = []
        for spec, name, answer in zip(specs, names, answers, strict=True):
            if str(answer.get("status-code")) == "201" and answer.get("id"):
                arcrest.write_json(os.path.join(spec.work_dir, JOB_FILE),
                                   {"id": answer["id"], "metrics": name})
                outcomes.append(answer["id"])
            else:
                outcomes.append(BackendError(
                    f"the CE refused the job: {answer.get('status-code')} "
                    f"{answer.get('reason', '')}".strip()))
        return outcomes

    def _script(self, spec: JobSpec, metrics_name: str) -> str:
        """The job's script; with an image and a runtime, the payload runs in the
        image with the session folder (where the job runs on the worker) as the
        only mount."""
        if not spec.image:  # (refuse_missing_runtime: with an image, the site has a runtime)
            return arcrest.job_script(spec, metrics_name)
        runtimes.note_image(spec)
        lines = runtimes.PRIVATE_HOME + runtimes.payload_lines(spec, self.settings,
                                                               folder='"$HC_JOB_DIR"')
        return arcrest.job_script(spec, metrics_name, lines)

    def poll(self, jobs: Mapping[str, str]) -> dict[str, JobStatus]:
        statuses: dict[str, JobStatus] = {}
        asking = {}
        for backend_id, folder in jobs.items():
            known = arcrest.read_json(os.path.join(folder, FINAL_FILE))
            if known is not None:
                statuses[backend_id] = runtimes.record_outcome(_from_record(known), folder)
            else:
                asking[backend_id] = folder
        ids = list(asking) + [i for i in self._killed if i not in asking]
        if not ids:
            return statuses
        self._authenticate()
        ended, cleanable = [], []
        for answer in self.client.jobs_action("status", ids):
            backend_id = answer.get("id")
            state = _ce_state(answer)
            if backend_id in self._killed and backend_id not in asking:
                if state in arcrest.FINAL_STATES or state == "GONE":
                    self._killed.discard(backend_id)
                    cleanable.append(backend_id)
                continue
            if backend_id not in asking:
                continue
            if state == "GONE":
                statuses[backend_id] = JobStatus(JobState.LOST,
                                                 reason="the CE no longer knows the job")
            elif backend_id in self._killed:
                statuses[backend_id] = JobStatus(JobState.KILLED, reason="killed at the CE")
            elif state in arcrest.FINAL_STATES:
                ended.append((backend_id, state))
            elif state in arcrest.RUNNING_STATES:
                statuses[backend_id] = JobStatus(JobState.RUNNING, extra={"ce_state": state})
            else:
                statuses[backend_id] = JobStatus(JobState.QUEUED, extra={"ce_state": state})
        for backend_id, state in ended:
            statuses[backend_id] = self._collect(backend_id, state, asking[backend_id])
            cleanable.append(backend_id)
        if cleanable:
            self._clean(cleanable)
        return statuses

    def _collect(self, backend_id: str, state: str, folder: str) -> JobStatus:
        """Outputs into the job folder, diag and failure reason into the record."""
        for name in self.client.session_files(backend_id):
            target = os.path.join(folder, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self.client.download(f"/jobs/{backend_id}/session/{name}", target)
        diag = arcrest.parse_diag(self.client.text(f"/jobs/{backend_id}/diagnose/diag"))
        record = {"ce_state": state, "exit_code": _int(diag.get("exitcode")),
                  "started_at": arcrest.diag_time(diag.get("LRMSStartTime")),
                  "ended_at": arcrest.diag_time(diag.get("LRMSEndTime")),
                  "cpu_seconds": _cpu(diag), "reason": None}
        if state != "FINISHED":
            record["reason"] = self._diagnose(backend_id, state)
        arcrest.write_json(os.path.join(folder, FINAL_FILE), record)
        return runtimes.record_outcome(_from_record(record), folder)

    def _diagnose(self, backend_id: str, state: str) -> str:
        failed = (self.client.text(f"/jobs/{backend_id}/diagnose/failed") or "").strip()
        errors = (self.client.text(f"/jobs/{backend_id}/diagnose/errors") or "").strip()
        tail = "\n".join(errors.splitlines()[-12:])
        return (f"CE state {state}: {failed or 'no reason given'}"
                + (f"\n--- CE errors (tail) ---\n{tail}" if tail else ""))[:4000]

    def _clean(self, ids: list[str]) -> None:
        with contextlib.suppress(BackendError):  # else the CE wipes them after their lifetime
            self.client.jobs_action("clean", ids)

    def kill(self, jobs: Mapping[str, str]) -> None:
        if not jobs:
            return
        self._authenticate()
        for answer in self.client.jobs_action("kill", list(jobs)):
            code = str(answer.get("status-code"))
            if code.startswith("2") or code == "404":
                self._killed.add(answer.get("id"))
            elif _ce_state(answer) not in arcrest.FINAL_STATES:
                raise BackendError(f"the CE did not kill {answer.get('id')}: {code} "
                                   f"{answer.get('reason', '')}")

    def check(self) -> str:
        self._authenticate()
        answer = self.client.call("GET", "/info", headers=arcrest.JSON)
        try:
            info = answer.json()
        except ValueError:
            raise BackendError("the CE's info is not JSON") from None
        found, problem = arcrest.ce_summary(info, self.settings["queue"])
        if problem:
            raise BackendError(f"{problem} ({found})")
        return found

    def recover(self, job_dir: str) -> str | None:
        """By the id file; else (the agent died between the CE's answer and the file)
        by the job's name among the CE's jobs, asked once for a recovery pass."""
        job = arcrest.read_json(os.path.join(job_dir, JOB_FILE))
        if job and job.get("id"):
            return job["id"]
        now = time.monotonic()
        if self._names is None or now - self._names[0] > NAMES_FRESH:
            self._authenticate()
            self._names = (now, self.client.names())
        return self._names[1].get(arcrest.job_name(job_dir))

    def close(self) -> None:
        self.client.close()


def _ce_state(answer: dict) -> str:
    if str(answer.get("status-code")) == "404":
        return "GONE"
    return str(answer.get("state", "")).upper()


def _from_record(record: dict) -> JobStatus:
    state, exit_code = record["ce_state"], record.get("exit_code")
    times = dict(started_at=record.get("started_at"), ended_at=record.get("ended_at"),
                 cpu_seconds=record.get("cpu_seconds"), extra={"ce_state": state})
    if state == "FINISHED" and not exit_code:
        return JobStatus(JobState.COMPLETED, exit_code=0, **times)
    if state == "KILLED":
        return JobStatus(JobState.KILLED, exit_code=exit_code, reason=record.get("reason"),
                         **times)
    if state == "WIPED":
        return JobStatus(JobState.LOST, reason="the CE wiped the job before its outputs "
                         "were fetched", **times)
    return JobStatus(JobState.FAILED, exit_code=exit_code,
                     reason=record.get("reason") or f"exit code {exit_code}", **times)


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _cpu(diag: dict) -> float | None:
    parts = [arcrest.diag_seconds(diag.get(k)) for k in ("UserTime", "KernelTime")]
    known = [p for p in parts if p is not None]
    return sum(known) if known else None
