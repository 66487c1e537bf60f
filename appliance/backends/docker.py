"""Docker backend: each job is a container of the test's image running its command.

Safe by default: a non-root user, no privileges, no network, CPU and memory
limits, `init` so a stop reaches the payload, and no host mount but the job's
own folder. Containers carry labels (job, test, site, submit host): one labelled
list call polls every job, and a restarted agent finds its containers by them.
When a container ends, its output, exit code and the image that ran are written
into the job folder (`docker-status.json`) and the container is removed; the
status file is what later polls (and restarted agents) read.

Every daemon request is bounded by the agent's HC_BACKEND_TIMEOUT (well below
HC_AGENT_DEAD_AFTER), pulls by PULL_TIMEOUT. A container is created, then
started: one an agent left created (killed in between) is started by the next
poll or recovery of its job, never left behind.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import threading
from collections.abc import Mapping

from appliance import limits, payload, registry
from appliance.backends import pulls
from appliance.backends.base import (
    Backend,
    BackendError,
    JobSpec,
    JobStatus,
    SettingsError,
    check_number,
    merge_settings,
    timed_out,
)
from appliance.states import JobState

LABEL = "org.hc-appliance"
PULL_TIMEOUT = 900.0  # s: an image pull (layers take time; a hung registry must not)
STATUS_FILE = "docker-status.json"
DEFAULTS = {
    "network": False,        # every payload gets a network (else only those whose template
                             # asks: job.network)
    "cpus": 1.0,             # CPU limit per job
    "memory_mb": 1024,       # memory limit per job
    "user": "10001:10001",   # never root
    "pull": "if-not-present",  # always / if-not-present / never (true, false: the last two)
    "registry_auth_file": None,  # a Docker config.json with this site's registry
                             # credentials; default the instance's (HC_REGISTRY_AUTH_FILE)
    "work_volume": None,     # named volume holding the work area, when the agent is itself
                             # in a container; mounted in the job at work_volume_mount,
    "work_volume_mount": "/data",  # where the agent has it (the image's data dir)
    "base_url": None,        # Docker daemon; default: the environment (DOCKER_HOST or socket)
    "poll_interval": 2.0,
}


class DockerBackend(Backend):
    name = "docker"

    @classmethod
    def image_refusal(cls, settings):
        return None

    def __init__(self, settings, host=""):
        super().__init__(settings, host)
        self.poll_interval = self.settings["poll_interval"]
        self._client = None

    @classmethod
    def validate_settings(cls, settings):
        merged = merge_settings(cls.name, DEFAULTS, settings)
        check_number(merged, "cpus", 0.01, 256)
        check_number(merged, "memory_mb", 16, 1_048_576)
        check_number(merged, "poll_interval", 0.1, 3600)
        if not isinstance(merged["network"], bool):
            raise SettingsError("network must be true or false")
        merged["pull"] = pull_policy(merged["pull"])
        if merged["registry_auth_file"] is not None and not isinstance(
                merged["registry_auth_file"], str):
            raise SettingsError("registry_auth_file must be the path of a config.json")
        merged["user"] = container_user(merged["user"])
        return merged

    @property
    def client(self):
        if self._client is None:
            import docker  # imported only by agents that serve a Docker site

            timeout = self.call_timeout  # every request, not only those through _call
            try:
                self._client = docker.DockerClient(base_url=self.settings["base_url"],
                                                   timeout=timeout) \
                    if self.settings["base_url"] else docker.from_env(timeout=timeout)
            except docker.errors.DockerException as error:
                raise BackendError(f"Docker daemon not reachable: {error}") from error
        return self._client

    def check(self) -> str:
        """A short description of the daemon; raises BackendError when unusable."""
        version = self._call(lambda: self.client.version())
        return f"Docker {version.get('Version', '?')} answers"

    def submit(self, spec: JobSpec) -> str:
        if not spec.image:
            raise BackendError("the job template names no image; the Docker backend needs one")
        self._ensure_image(spec.image)
        os.chmod(spec.work_dir, 0o777)  # the job's own folder, writable by the job's user
        labels = {f"{LABEL}.job": str(spec.job_id), f"{LABEL}.test": str(spec.test_id),
                  f"{LABEL}.site": spec.site, f"{LABEL}.host": self.host,
                  f"{LABEL}.image": spec.image}
        environment = spec.payload_environment()
        container = self._call(lambda: self.client.containers.create(
            spec.image, ["/bin/sh", "-c", spec.command], labels=labels,
            environment=environment, user=str(self.settings["user"]), init=True,
            working_dir=spec.work_dir, volumes=self._volumes(spec.work_dir),
            network_mode=None if self.settings["network"] or spec.network else "none",
            nano_cpus=int(self.settings["cpus"] * 1e9),
            mem_limit=f"{int(self.settings['memory_mb'])}m", privileged=False,
            cap_drop=["ALL"], security_opt=["no-new-privileges"]))
        try:
            self._call(container.start)
        except BackendError as error:
            if not timed_out(error):  # refused: no container is left behind
                self._remove(container)
            raise  # a start that timed out may have happened: recovered by its label
        return container.id

    def _remove(self, container) -> None:
        # Gone already, or the daemon is away: its label finds it again.
        with contextlib.suppress(BackendError):
            self._call(lambda: container.remove(force=True))

    def _volumes(self, job_dir: str) -> dict:
        if self.settings["work_volume"]:
            # The agent is in a container: the daemon knows the volume, not our path;
            # mounted where the agent has it, the job folder keeps its path.
            return {self.settings["work_volume"]: {"bind": self.settings["work_volume_mount"],
                                                   "mode": "rw"}}
        return {job_dir: {"bind": job_dir, "mode": "rw"}}

    def _ensure_image(self, image: str) -> None:
        """The image on the daemon by the site's pull policy; one pull shared by
        every job that needs it (pulls.SHARED); BackendError with the reason."""
        policy = self.settings["pull"]
        present = policy != "always" and self._present(image)
        if present:
            return
        if policy == "never":
            raise BackendError(f"image {image} is not on the Docker host and this site does "
                               "not pull images (pull: never)")
        key = f"{self.settings['base_url'] or 'default'} {image}"
        error = pulls.SHARED.pull(key, lambda: self._pull(image), "@sha256:" in image)
        if error is not None:
            raise BackendError(f"pull of {image} failed: {error}")

    def _present(self, image: str) -> bool:
        import docker.errors

        try:
            self._call(lambda: self.client.images.get(image), passing=docker.errors.ImageNotFound)
            return True
        except docker.errors.ImageNotFound:
            return False

    def _pull(self, image: str) -> None:
        """Raises with the daemon's (the registry's) reason."""
        import docker.errors

        try:
            reference = registry.parse_reference(image)
        except registry.BadReference as error:
            raise RuntimeError(str(error)) from None
        auth = None
        if reference.registry:
            found = registry.load_credentials(self.settings["registry_auth_file"]
                                              or registry.instance_auth_file())
            if reference.registry in found:
                user, password = found[reference.registry]
                auth = {"username": user, "password": password}
        outcome: list = []

        def pull() -> None:
            try:
                self.client.images.pull(image, auth_config=auth)
                outcome.append(None)
            except docker.errors.APIError as error:
                outcome.append(error.explanation or str(error))
            except Exception as error:  # noqa: BLE001 (the daemon away: its reason)
                outcome.append(str(error))
        # The SDK gives pulls no timeout: bounded here; a pull given up on goes on in
        # the daemon, and the next attempt finds what it fetched.
        puller = threading.Thread(target=pull, name=f"pull {image}", daemon=True)
        puller.start()
        puller.join(PULL_TIMEOUT)
        if not outcome:
            raise RuntimeError(f"the pull timed out after {PULL_TIMEOUT:.0f} s")
        if outcome[0] is not None:
            raise RuntimeError(outcome[0])

    def poll(self, jobs: Mapping[str, str]) -> dict[str, JobStatus]:
        # ignore_removed: a container removed between the listing and its inspection
        # (another job collected meanwhile) must not fail the poll of every job.
        listed = self._call(lambda: self.client.containers.list(
            all=True, filters={"label": f"{LABEL}.job"}, ignore_removed=True))
        by_id = {container.id: container for container in listed}
        statuses = {}
        for backend_id, folder in jobs.items():
            container = by_id.get(backend_id)
            if container is None:
                statuses[backend_id] = _read_status(folder) or JobStatus(
                    JobState.LOST, reason="container vanished before its outcome was collected")
            else:
                status = self._status(container, folder)
                if status is not None:
                    statuses[backend_id] = status
        return statuses

    def _status(self, container, folder: str) -> JobStatus | None:
        state = container.attrs["State"]
        if state["Status"] == "created":  # an agent stopped between create and start
            try:
                self._call(container.start)
            except BackendError as error:
                if timed_out(error):
                    raise
                self._remove(container)
                return JobStatus(JobState.FAILED, reason=f"its container could not start: "
                                 f"{error}")
            return JobStatus(JobState.QUEUED)
        if state["Status"] == "restarting":
            return JobStatus(JobState.QUEUED)
        if state["Status"] in ("running", "paused"):
            return JobStatus(JobState.RUNNING, started_at=_time(state["StartedAt"]))
        return self._collect(container, folder)

    def _collect(self, container, folder: str) -> JobStatus:
        """Outputs into the job folder, the outcome into its status file, then remove."""
        state = container.attrs["State"]
        for stream in ("stdout", "stderr"):
            self._call(lambda stream=stream: _save_output(
                container.logs(stdout=stream == "stdout", stderr=stream == "stderr",
                               stream=True), os.path.join(folder, stream)))
        code = state.get("ExitCode")
        record = {"exit_code": code, "started_at": _time(state["StartedAt"]),
                  "ended_at": _time(state["FinishedAt"]), "image_digest": _digest(container),
                  "reason": "out of memory" if state.get("OOMKilled") else
                  (f"exit code {code}" if code else None)}
        temporary = os.path.join(folder, STATUS_FILE + ".tmp")
        with open(temporary, "w") as handle:
            json.dump(record, handle)
        os.replace(temporary, os.path.join(folder, STATUS_FILE))
        self._remove(container)
        return _read_status(folder)

    def kill(self, jobs: Mapping[str, str]) -> None:
        import docker.errors

        for backend_id in jobs:
            try:
                self._call(lambda i=backend_id: self.client.containers.get(i).remove(force=True),
                           passing=docker.errors.NotFound)
            except docker.errors.NotFound:
                pass
            except BackendError as error:
                raise BackendError(f"cannot kill container {backend_id[:12]}: {error}") \
                    from error

    def recover(self, job_dir: str) -> str | None:
        job_id = os.path.basename(job_dir.rstrip("/")).removeprefix("job-")
        found = self._call(lambda: self.client.containers.list(
            all=True, filters={"label": f"{LABEL}.job={job_id}"}, ignore_removed=True))
        return self._one_of(found)

    def _one_of(self, found: list) -> str | None:
        """The container that is the job: one that started, else one left created
        (an agent killed between create and start), started now. Any other left
        created is removed; one that cannot start is removed (the job never ran)."""
        started = [c for c in found if c.attrs["State"]["Status"] != "created"]
        created = [c for c in found if c not in started]
        keep = started[0] if started else None
        for container in created:
            if keep is None:
                try:
                    self._call(container.start)
                    keep = container
                    continue
                except BackendError as error:
                    if timed_out(error):
                        raise  # asked again next time
            self._remove(container)
        return keep.id if keep is not None else None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _call(self, function, passing: type[Exception] | tuple = ()):
        """function(), its failure a BackendError (one that timed out saying so);
        `passing`: exceptions the caller handles itself."""
        import docker.errors
        import requests

        try:
            return function()
        except passing:
            raise
        except requests.exceptions.Timeout as error:
            raise BackendError(f"the Docker daemon timed out after {self.call_timeout:g} s "
                               f"({error})") from error
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            raise BackendError(f"Docker daemon error: {error}") from error


def _read_status(folder: str) -> JobStatus | None:
    """The outcome _collect wrote; the payload shares the folder and may have
    overwritten it, so what does not parse is a failed job saying so."""
    try:
        data = payload.read_bounded(os.path.join(folder, STATUS_FILE), limits.MAX_STATUS_BYTES,
                                   "status file")
        if data is None:
            return None
        record = payload.parse_json(data, "status file")
        return _status_of(record)
    except payload.PayloadError as error:
        return JobStatus(JobState.FAILED, reason=str(error))


def _status_of(record) -> JobStatus:
    fields = ("exit_code", "started_at", "ended_at", "reason", "image_digest")
    if not isinstance(record, dict) or not all(name in record for name in fields):
        raise payload.PayloadError("status file is malformed (the payload may have "
                                   "overwritten it)")
    code = record["exit_code"]
    times = [record[name] for name in ("started_at", "ended_at")]
    if not isinstance(code, int) or isinstance(code, bool) or not -1 <= code <= 255 or any(
            t is not None and payload.finite_number(t) is None for t in times):
        raise payload.PayloadError("status file is malformed (numbers out of range)")
    if None not in times and times[1] < times[0]:
        # Docker's FinishedAt of a very short container can be a millisecond before
        # its StartedAt: the job did not end before it started.
        times[1] = times[0]
    state = JobState.COMPLETED if code == 0 else JobState.FAILED
    reason, digest = record["reason"], record["image_digest"]
    return JobStatus(state, started_at=times[0], ended_at=times[1], exit_code=code,
                     reason=payload.shorten(reason) if isinstance(reason, str) else None,
                     extra={"image_digest": str(digest)[:256]} if digest else {})


def _save_output(chunks, path: str) -> None:
    """Write a container's output up to MAX_OUTPUT_BYTES (a payload may print gigabytes)."""
    left = limits.MAX_OUTPUT_BYTES
    with open(path, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk[:left])
            left -= len(chunk)
            if left <= 0:
                handle.write(b"\n[output cut at %d bytes by the appliance]\n"
                             % limits.MAX_OUTPUT_BYTES)
                break


def pull_policy(value) -> str:
    if value is True or value is False:  # the older yes/no setting
        return "if-not-present" if value else "never"
    if value not in pulls.POLICIES:
        raise SettingsError("pull must be one of " + ", ".join(pulls.POLICIES))
    return value


def _digest(container) -> str:
    """What ran: REGISTRY/NAME@sha256:... (the registry's manifest digest) for an
    image from a registry, else its content id (images built or imported here)."""
    image_id = container.attrs["Image"]
    try:
        digests = container.client.images.get(image_id).attrs.get("RepoDigests") or []
    except Exception:  # the image may be gone already; its id still names it exactly
        digests = []
    asked = (container.labels or {}).get(f"{LABEL}.image", "")
    try:
        reference = registry.parse_reference(asked)
    except registry.BadReference:
        return image_id
    if reference.registry is None:
        return image_id
    mine = [d for d in digests if d.split("@")[0] == reference.name]
    exact = [d for d in mine if reference.digest and d.endswith("@" + reference.digest)]
    return (exact or mine or [image_id])[0]


def _time(text: str | None) -> float | None:
    """Docker's RFC 3339 times with nanoseconds -> UNIX seconds."""
    if not text or text.startswith("0001-"):
        return None
    main, _, fraction = text.rstrip("Z").partition(".")
    moment = dt.datetime.fromisoformat(main).replace(tzinfo=dt.UTC)
    return moment.timestamp() + (float("0." + fraction[:9]) if fraction else 0.0)


def container_user(value) -> str:
    """The payload's "UID:GID", numbers only, neither of them 0: a name could be
    root inside the image, and an empty user would run as the image's default."""
    uid, colon, gid = str(value).strip().partition(":")
    if not re.fullmatch(r"[0-9]{1,10}", uid) or (colon and not re.fullmatch(r"[0-9]{1,10}", gid)):
        raise SettingsError(f"user must be a numeric UID or UID:GID (e.g. 10001:10001), "
                            f"not {value!r}"[:300])
    if int(uid) == 0 or (colon and int(gid) == 0) or max(int(uid), int(gid or 1)) >= 2**31:
        raise SettingsError("user: payloads never run as root (uid or gid 0), nor above 2^31")
    return f"{int(uid)}:{int(gid)}" if colon else f"{int(uid)}:{int(uid)}"
