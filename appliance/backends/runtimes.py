"""Container runtimes on batch workers: the shell lines a batch job runs to start
its payload in the test's image (podman, or Apptainer where a site has it).

The same safety as on Docker sites: a non-root user (podman), no network unless
the site allows it, no host folder but the job's own, only the payload's
variables. Before the payload starts, the job writes what it ran (the image's
registry digest) to IMAGE_FILE; a pull that fails writes the registry's reason
to ERROR_FILE and ends the job with PULL_FAILED, so the backend can fail the job
with that reason. Pulls of one image on one worker are serialised with flock:
concurrent jobs wait for one pull instead of each pulling.
"""
from __future__ import annotations

import hashlib
import os
import shlex

from appliance import registry
from appliance.backends.base import JobSpec, JobStatus, SettingsError
from appliance.states import JobState

RUNTIMES = ("podman", "apptainer")
IMAGE_FILE = "image-digest"
ERROR_FILE = "container-error"
IMAGE_NAME_FILE = "image"  # the image the job was given (written at submit, agent side)
PULL_FAILED = 125
LOCK_FOLDER = "/tmp"  # per-worker pull locks: hc-pull-<hash of the image>.lock
SETTINGS = {
    "container_runtime": None,   # podman or apptainer: run jobs with an image in it
    "runtime_path": None,        # the runtime's command on the workers; default its name
    "runtime_options": [],       # extra options of `podman run` / `apptainer exec`
    "user": "10001:10001",       # podman: the payload's user, never root
    "network": False,            # every payload gets a network (else only those asking)
    "pull": "if-not-present",    # always / if-not-present / never (podman)
    "registry_auth_file": None,  # config.json with registry credentials, on the workers
    "insecure_registries": [],   # HOST:PORT pulled without TLS (loopback ones always are)
}


def validate(merged: dict) -> None:
    runtime = merged["container_runtime"]
    if runtime is not None and runtime not in RUNTIMES:
        raise SettingsError("container_runtime must be one of " + ", ".join(RUNTIMES))
    for name in ("runtime_options", "insecure_registries"):
        value = merged[name]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"{name} must be a list of text")
    for name in ("runtime_path", "registry_auth_file"):
        if merged[name] is not None and not isinstance(merged[name], str):
            raise SettingsError(f"{name} must be a path")
    if not isinstance(merged["network"], bool):
        raise SettingsError("network must be true or false")
    if merged["user"] is not None and str(merged["user"]).split(":")[0] in ("0", "root"):
        raise SettingsError("user must not be root")
    if merged["pull"] not in ("always", "if-not-present", "never"):
        raise SettingsError("pull must be one of always, if-not-present, never")


def image_refusal(settings: dict) -> str | None:
    """A batch or grid site runs images only through its workers' container runtime."""
    if settings["container_runtime"]:
        return None
    return ("the site's workers run images only through a container runtime, and the "
            "site names none (set container_runtime: podman or apptainer)")


def command(settings: dict) -> str:
    return settings["runtime_path"] or settings["container_runtime"]


def check_command(settings: dict) -> str:
    """A shell line a worker runs to prove the runtime is there."""
    runtime = shlex.quote(command(settings))
    return (f"command -v {runtime} >/dev/null || {{ echo \"{runtime} not found on worker "
            f"$(hostname)\"; exit 3; }}; {runtime} --version")


def payload_lines(spec: JobSpec, settings: dict, folder: str | None = None) -> str:
    """The job script's part that pulls the image and runs the payload in it.
    `folder` is the shell word naming the job's folder on the worker (the only
    mount); by default the job folder itself (a shared file system, as on Slurm)."""
    folder = folder or shlex.quote(spec.work_dir)
    if settings["container_runtime"] == "apptainer":
        return _apptainer(spec, settings, folder)
    return _podman(spec, settings, folder)


# Rootless runtimes need a HOME (image storage, configuration) and a runtime
# folder of their own, one per account on a worker so that its jobs share pulls.
# Never the job's folder: on a CE that is often HOME, and it is fetched back whole.
PRIVATE_HOME = (
    'hc_private() { [ -d "$1" ] && [ -O "$1" ] || { mkdir -p -m 700 "$1" && [ -O "$1" ]; }; }\n'
    f'export HOME="{LOCK_FOLDER}/hc-home-$(id -u)"\n'
    'export XDG_RUNTIME_DIR="$HOME/.run"\n'
    'hc_private "$HOME" && hc_private "$XDG_RUNTIME_DIR" || '
    '{ echo "no private HOME for the container runtime" >&2; exit 125; }\n')


def record_outcome(status: JobStatus, folder: str) -> JobStatus:
    """What the job's container runtime left in its folder: the image it ran
    (as REGISTRY/NAME@DIGEST, as on Docker sites), or why the pull failed."""
    digest = _read(os.path.join(folder, IMAGE_FILE))
    if digest:
        try:
            name = registry.parse_reference(_read(os.path.join(folder, IMAGE_NAME_FILE))).name
        except registry.BadReference:
            name = ""
        status.extra["image_digest"] = f"{name}@{digest}" if name else digest
    if status.state is JobState.FAILED and status.exit_code == PULL_FAILED:
        error = _read(os.path.join(folder, ERROR_FILE))
        if error is not None:
            status.reason = f"image not available: {error[-500:] or 'the pull failed'}"
    return status


def note_image(spec: JobSpec) -> None:
    """Keep the image's name beside the job, for record_outcome."""
    with open(os.path.join(spec.work_dir, IMAGE_NAME_FILE), "w") as handle:
        handle.write(spec.image or "")


def _read(path: str) -> str | None:
    try:
        with open(path, errors="replace") as handle:
            return handle.read().strip()
    except (OSError, TypeError):
        return None


def _insecure(image: str, settings: dict) -> bool:
    try:
        host = registry.parse_reference(image).registry
    except registry.BadReference:
        return False
    return bool(host) and (host in settings["insecure_registries"]
                           or registry.base_url(host).startswith("http:"))


def _podman(spec: JobSpec, settings: dict, folder: str) -> str:
    podman, image = shlex.quote(command(settings)), shlex.quote(spec.image)
    access = []
    if _insecure(spec.image, settings):
        access.append("--tls-verify=false")
    if settings["registry_auth_file"]:
        access.append(f"--authfile={shlex.quote(settings['registry_auth_file'])}")
    pull = f"{podman} pull --quiet {' '.join(access)} {image}".replace("  ", " ")
    exists = f"{podman} image exists {image}"
    lock = shlex.quote(f"{LOCK_FOLDER}/hc-pull-{_hash(spec.image)}.lock")
    if settings["pull"] == "always":
        get = pull
    elif settings["pull"] == "if-not-present":
        get = f"{exists} || {pull}"
    else:
        refusal = "image not on this worker and the site never pulls (pull: never)"
        get = f"{exists} || {{ echo '{refusal}' >&2; false; }}"
    variables = " ".join(f"-e {shlex.quote(name)}" for name in spec.payload_environment())
    options = " ".join(shlex.quote(o) for o in settings["runtime_options"])
    network = "" if settings["network"] or spec.network else "--network=none "
    name = f"hc-job{spec.job_id}-$$"
    # No user: a rootless runtime's own account (uid 0 of an unprivileged user namespace).
    user = f"--user {shlex.quote(settings['user'])} " if settings["user"] else ""
    run = (f"{podman} run --rm --name {name} --pull=never {user}"
           f"{network}--cap-drop=all --security-opt=no-new-privileges "
           f"-v {folder}:{folder} -w {folder} {variables} {options} "
           f"{image} /bin/sh -c {shlex.quote(spec.command)}")
    # podman's network helpers call iptables, which lives in sbin.
    return ("PATH=\"$PATH:/usr/sbin:/sbin\"\n"
            f"flock {lock} sh -c {shlex.quote(get)} >/dev/null 2>{ERROR_FILE} "
            f"|| exit {PULL_FAILED}\n"
            f"{podman} image inspect --format '{{{{.Digest}}}}' {image} > {IMAGE_FILE}.tmp "
            f"&& mv {IMAGE_FILE}.tmp {IMAGE_FILE}\n"
            f"trap '{podman} rm -f -t 0 {name} >/dev/null 2>&1; exit 143' TERM INT\n"
            f"{run} &\nwait $!\n")


def _apptainer(spec: JobSpec, settings: dict, folder: str) -> str:
    apptainer = shlex.quote(command(settings))
    access = " --nohttps" if _insecure(spec.image, settings) else ""
    if settings["registry_auth_file"]:
        access += f" --authfile={shlex.quote(settings['registry_auth_file'])}"
    exports = "".join(f"export APPTAINERENV_{name}=\"${name}\"\n"
                      for name in spec.payload_environment())
    network = "" if settings["network"] or spec.network else "--net --network none "
    options = " ".join(shlex.quote(o) for o in settings["runtime_options"])
    digest = registry.parse_reference(spec.image).digest or spec.image
    return (f"{exports}printf '%s\\n' {shlex.quote(digest)} > {IMAGE_FILE}\n"
            f"exec {apptainer} exec --containall --cleanenv --no-home {network}"
            f"--bind {folder}:{folder} --pwd {folder}{access} {options} "
            f"docker://{shlex.quote(spec.image)} /bin/sh -c {shlex.quote(spec.command)}\n")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
