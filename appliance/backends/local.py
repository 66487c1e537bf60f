"""Local backend: each job is a process on this host, in its own session.

A small /bin/sh wrapper runs in the job's folder, writes its pid, runs the
payload with stdout and stderr in files, then writes a status file with the exit
code and CPU times. The status file, not this process's memory, is the truth:
an agent restarted while jobs ran learns their outcome from it.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import re
import signal
import subprocess
import time
from collections.abc import Mapping

from appliance import limits, payload, workers
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

PID_FILE = "pid"
STATUS_FILE = "status"

# The status file ends with "end" so a reader never mistakes half a file for a
# result; `times` reports the CPU used by the payload (the second line).
# The worker record (workers.WORKER_FILE) is written by the agent before the spawn:
# this host is the worker (workers.this_host).
WRAPPER = """cd "$1" || exit 111
echo $$ > pid
( eval "$2" ) </dev/null >stdout 2>stderr
rc=$?
{ echo "exit $rc"; times; echo end; } > status
"""
SHELL = "/bin/sh"
# util-linux's setpriv starts a payload as its own user with every capability and the
# means to regain one (setuid programs, ambient or inheritable capabilities) dropped: an
# agent that switches users by capability (the container's submit agent) passes none on.
SETPRIV = ["setpriv", "--clear-groups", "--inh-caps=-all", "--ambient-caps=-all",
           "--bounding-set=-all", "--no-new-privs"]
# What switching payloads to their own uid needs: setuid, setgid, chown, kill.
SWITCH_CAPABILITIES = (7, 6, 0, 5)
BASE_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
# HC_PAYLOAD_USER: who payloads run as. Empty: the agent's own user (development).
# "10002" or "hcjob": that user; "200000-265535": job N runs as uid 200000 + N % 65536
# (and that gid), so concurrent jobs cannot read each other's folders either.
DEFAULTS = {"kill_grace": 2.0, "payload_user": os.environ.get("HC_PAYLOAD_USER", "")}


class LocalBackend(Backend):
    name = "local"
    poll_interval = 0.5
    starts_immediately = True
    host_local = True

    def __init__(self, settings, host=""):
        super().__init__(settings, host)
        self._children: set[int] = set()
        self._processes: dict[int, subprocess.Popen] = {}

    @classmethod
    def validate_settings(cls, settings):
        merged = merge_settings(cls.name, DEFAULTS, settings)
        check_number(merged, "kill_grace", 0, 60)
        payload_ids(merged["payload_user"], 0)   # refuse a bad value now, not at submit
        return merged

    def submit(self, spec: JobSpec) -> str:
        refuse_missing_runtime(self, spec)
        environment = {k: os.environ[k] for k in BASE_ENVIRONMENT if k in os.environ}
        environment.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        environment["HOME"] = spec.work_dir
        environment.update(spec.payload_environment())
        ids = payload_ids(self.settings["payload_user"], spec.job_id)
        try:
            with open(os.path.join(spec.work_dir, workers.WORKER_FILE), "w") as handle:
                handle.write(workers.this_host())
            if ids is None:
                pid = os.posix_spawn(SHELL, [SHELL, "-c", WRAPPER, "hc-job", spec.work_dir,
                                             spec.command], environment, setsid=True)
            else:
                pid = self._spawn_as(ids, spec, environment | {"TMPDIR": spec.work_dir})
        except OSError as error:
            raise BackendError(f"cannot start the job process: {error}") from error
        self._children.add(pid)
        return str(pid)

    def _spawn_as(self, ids: tuple[int, int], spec: JobSpec, environment: dict) -> int:
        """Start the wrapper as the payload's user: its own folder is the one place
        it may write (owned by it, group the agent's, so the agent and the web
        read it); no supplementary groups, so nothing else of the agent's is its."""
        uid, gid = ids
        missing = missing_switch_capabilities()
        if missing:
            raise BackendError(missing)
        # Mode first: once the folder is the payload's, only root may change it.
        os.chmod(spec.work_dir, 0o2770)   # setgid: its files keep the agent's group
        os.chown(spec.work_dir, uid, os.getgid())
        argv = [*SETPRIV, f"--reuid={uid}", f"--regid={gid}", "--",
                SHELL, "-c", WRAPPER, "hc-job", spec.work_dir, spec.command]
        process = subprocess.Popen(argv, env=environment, umask=0o007, start_new_session=True,
                                   close_fds=True, stdin=subprocess.DEVNULL, cwd=spec.work_dir)
        self._processes[process.pid] = process   # Popen reaps it; kept so it is not lost
        return process.pid

    def poll(self, jobs: Mapping[str, str]) -> dict[str, JobStatus]:
        self._reap()
        statuses = {}
        for backend_id, folder in jobs.items():
            status = read_status(folder)
            if status is None and not self._alive(int(backend_id), folder):
                # It may have written its status between the two looks.
                status = read_status(folder) or _ended_without_status(folder)
            if status is not None:
                statuses[backend_id] = status
        return statuses

    def kill(self, jobs: Mapping[str, str]) -> None:
        targets = [int(i) for i, folder in jobs.items() if self._alive(int(i), folder)]
        for pid in targets:
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings["kill_grace"]
        while targets and time.monotonic() < deadline:
            time.sleep(0.05)
            self._reap()
            targets = [pid for pid in targets if _group_exists(pid)]
        for pid in targets:
            _signal_group(pid, signal.SIGKILL)
        self._reap()

    def check(self) -> str:
        if not os.access(SHELL, os.X_OK):
            raise BackendError(f"{SHELL} is missing: jobs cannot start")
        if self.settings["payload_user"]:
            missing = missing_switch_capabilities()
            if missing:
                raise BackendError(missing)
            return (f"local processes on {os.uname().nodename}, payloads as "
                    f"{self.settings['payload_user']}")
        return f"local processes on {os.uname().nodename}"

    def recover(self, job_dir: str) -> str | None:
        try:
            with open(os.path.join(job_dir, PID_FILE)) as handle:
                return handle.read().strip() or None
        except FileNotFoundError:
            return None

    def _reap(self) -> None:
        """Collect our own ended children so they do not linger as zombies."""
        for pid in list(self._children):
            if pid in self._processes:
                if self._processes[pid].poll() is not None:
                    self._children.discard(pid)
                    del self._processes[pid]
                continue
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self._children.discard(pid)

    def _alive(self, pid: int, folder: str) -> bool:
        """Is `pid` still our job? Checked by its working folder, so that a
        recycled pid after a restart is not mistaken for the job."""
        if pid in self._children:
            return True
        try:
            return os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(folder)
        except PermissionError:  # a payload of another uid: its cwd is not ours to read
            return _same_session_leader(pid, folder)
        except OSError:
            return False


def _ended_without_status(folder: str) -> JobStatus:
    """No status file: if the folder cannot be written (a full or read-only work
    area) that is the cause, and the job failed; otherwise it is lost."""
    probe = os.path.join(folder, ".hc-write-probe")
    try:
        with open(probe, "w") as handle:
            handle.write("x")
        os.remove(probe)
    except OSError as error:
        return JobStatus(JobState.FAILED, ended_at=time.time(),
                         reason=f"the job could not write its folder: {error.strerror or error}")
    return JobStatus(JobState.LOST, ended_at=time.time(),
                     reason="job process ended without writing its status")


def payload_ids(setting: str, job_id: int) -> tuple[int, int] | None:
    """(uid, gid) the payload of job `job_id` runs as, None for the agent's own user."""
    text = str(setting).strip()
    if not text:
        return None
    first, dash, last = text.partition("-")
    if dash and re.fullmatch(r"[0-9]{1,10}", first) and re.fullmatch(r"[0-9]{1,10}", last):
        low, high = int(first), int(last)
        if not 1 <= low <= high < 2**31:
            raise SettingsError(f"payload_user: {text!r} is not a range of uids above 0")
        uid = low + job_id % (high - low + 1)
        return uid, uid
    try:
        entry = pwd.getpwuid(int(text)) if re.fullmatch(r"[0-9]{1,10}", text) \
            else pwd.getpwnam(text)
    except (KeyError, ValueError):
        raise SettingsError(f"payload_user: no user {text!r} on this host (HC_PAYLOAD_USER: "
                            "a user name, a uid, or a range of uids such as "
                            "200000-265535)") from None
    if entry.pw_uid == 0:
        raise SettingsError("payload_user: payloads never run as root")
    return entry.pw_uid, entry.pw_gid


def missing_switch_capabilities() -> str | None:
    """Why this process cannot start payloads as other users, or None when it can."""
    if os.geteuid() == 0:
        return None
    try:
        with open("/proc/self/status") as handle:
            effective = next(int(line.split()[1], 16) for line in handle
                             if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        effective = 0
    if all(effective >> bit & 1 for bit in SWITCH_CAPABILITIES):
        return None
    return ("payloads run as HC_PAYLOAD_USER, and this agent can switch to it neither as "
            "root nor with the capabilities setuid, setgid, chown and kill (the container "
            "grants them to its submit agent; no-new-privileges or dropped capabilities "
            "take them away)")


def _same_session_leader(pid: int, folder: str) -> bool:
    """Without access to the process's cwd: it is our job if it leads its own session
    (the wrapper does) and started no later than it wrote its pid file, which a process
    that reused the pid after the job ended cannot have done."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        written = os.stat(os.path.join(folder, PID_FILE)).st_mtime
    except (OSError, IndexError):
        return False
    session, ticks = int(fields[3]), int(fields[19])  # fields 6 and 22 of proc(5)
    started = _boot_time() + ticks / os.sysconf("SC_CLK_TCK")
    return session == pid and started <= written + 1.0


def _boot_time() -> float:
    with open("/proc/stat") as handle:
        return next(float(line.split()[1]) for line in handle if line.startswith("btime"))


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _group_exists(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def read_status(folder: str) -> JobStatus | None:
    """The outcome the wrapper wrote, or None while the job has not ended.

    The payload runs in the same folder and may overwrite the file with
    anything: what is complete (ends with "end") but does not parse is a failed
    job saying so, never an exception.
    """
    path = os.path.join(folder, STATUS_FILE)
    try:
        data = payload.read_bounded(path, limits.MAX_STATUS_BYTES,
                                   "status file")
        if data is None:
            return None
        ended_at = os.stat(path).st_mtime
    except payload.PayloadError as error:
        return JobStatus(JobState.FAILED, ended_at=time.time(), reason=str(error))
    except FileNotFoundError:
        return None
    lines = data.decode("utf-8", "replace").split("\n")
    if len(lines) < 4 or lines[3] != "end":
        return None  # still being written
    try:
        exit_code, cpu = _parse_status(lines)
    except ValueError:
        return JobStatus(JobState.FAILED, ended_at=ended_at,
                         reason="status file is malformed (the payload may have overwritten it)")
    if exit_code == 0:
        return JobStatus(JobState.COMPLETED, ended_at=ended_at, exit_code=0, cpu_seconds=cpu)
    return JobStatus(JobState.FAILED, ended_at=ended_at, exit_code=exit_code, cpu_seconds=cpu,
                     reason=f"exit code {exit_code}")


def _parse_status(lines: list[str]) -> tuple[int, float]:
    """(exit code, CPU seconds) of the wrapper's lines; ValueError when they are not its."""
    if not lines[0].startswith("exit ") or not lines[0][5:].isdigit() or len(lines[0]) > 9:
        raise ValueError(lines[0][:40])
    exit_code = int(lines[0][5:])
    cpu = sum(_seconds(part) for part in lines[2].split()[:2])
    if exit_code > 255 or payload.finite_number(cpu) is None or cpu < 0:
        raise ValueError("out of range")
    return exit_code, cpu


def _seconds(text: str) -> float:
    """`times` prints 1m2.500000s (dash) or 1m2.500s (bash)."""
    minutes, _, seconds = text.rstrip("s").partition("m")
    if len(text) > 30:
        raise ValueError("too long")
    return int(minutes) * 60 + float(seconds)
