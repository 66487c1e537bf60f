"""Who ran a job: the worker node as the job wrapper saw it.

Every backend whose wrapper runs on the worker (local, Slurm) writes, before the
payload starts, a WORKER_FILE of `key=value` lines into the job folder: host name,
CPU model, cores seen, memory, OS, kernel, container runtime. When the job ends the
agent reads it (bounded, like everything a job folder holds: the payload may have
overwritten it) into the job's `worker` column. The test page groups jobs by worker
node; a node that failed every one of at least BLACK_HOLE_JOBS jobs is flagged.
"""
from __future__ import annotations

import functools
import os
import socket

from appliance import payload
from appliance.db import database, is_postgres

WORKER_FILE = "hc-worker"
MAX_BYTES = 4096
MAX_VALUE = 200        # characters kept of one value
BLACK_HOLE_JOBS = 3    # a node failing all of at least this many jobs is flagged
TEXT_KEYS = ("host", "cpu", "os", "kernel", "runtime")
NUMBER_KEYS = {"cores": 1_000_000, "memory_kb": 2**50}  # key -> largest believable value

# POSIX sh, each probe optional (a minimal container has no hostname, no /proc/cpuinfo).
SNIPPET = """{ echo "host=$(hostname 2>/dev/null || uname -n)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)"
  echo "cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)"
  echo "memory_kb=$(sed -n 's/^MemTotal:[[:space:]]*\\([0-9]*\\).*/\\1/p' /proc/meminfo \\
    2>/dev/null)"
  echo "os=$(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-}")"
  echo "kernel=$(uname -sr 2>/dev/null)"
  if [ -e /.dockerenv ]; then echo runtime=docker; elif [ -e /run/.containerenv ]; then
    echo runtime=podman; elif [ -n "${APPTAINER_CONTAINER:-}${SINGULARITY_CONTAINER:-}" ]; then
    echo runtime=apptainer; fi
} > hc-worker 2>/dev/null
"""


@functools.cache
def this_host() -> str:
    """What SNIPPET writes, made once by the agent itself for the jobs it runs on its
    own host (the local backend): the snippet's nine small processes per job cost more
    than the payload of a short job (166 instead of 600 jobs/s through the agent)."""
    def first(path: str, prefix: str) -> str:
        try:
            with open(path, errors="replace") as handle:
                for line in handle:
                    if line.startswith(prefix):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return ""

    def os_name() -> str:
        try:
            with open("/etc/os-release", errors="replace") as handle:
                for line in handle:
                    if line.startswith("PRETTY_NAME="):
                        return line.split("=", 1)[1].strip().strip('"')
        except OSError:
            pass
        return ""

    system = os.uname()
    memory = first("/proc/meminfo", "MemTotal").split()
    runtime = ("docker" if os.path.exists("/.dockerenv") else
               "podman" if os.path.exists("/run/.containerenv") else
               "apptainer" if os.environ.get("APPTAINER_CONTAINER")
               or os.environ.get("SINGULARITY_CONTAINER") else "")
    lines = [f"host={socket.gethostname()}", f"cpu={first('/proc/cpuinfo', 'model name')}",
             f"cores={len(os.sched_getaffinity(0))}",
             f"memory_kb={memory[0] if memory else ''}", f"os={os_name()}",
             f"kernel={system.sysname} {system.release}"]
    return "\n".join(lines + ([f"runtime={runtime}"] if runtime else [])) + "\n"


def runtime_line(runtime: str) -> str:
    """A line for the job script that records the container runtime the payload runs in
    (a later key wins)."""
    return f"echo runtime={runtime} >> {WORKER_FILE} 2>/dev/null\n"


def read(folder: str) -> dict | None:
    """The worker record of a job folder; None without a usable file."""
    try:
        data = payload.read_bounded(os.path.join(folder, WORKER_FILE), MAX_BYTES, "worker file")
    except payload.PayloadError:
        return None
    if not data:
        return None
    record: dict = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition("=")
        value = value.strip()[:MAX_VALUE]
        if key in TEXT_KEYS and value:
            record[key] = value
        elif key in NUMBER_KEYS and value.isdigit() and int(value) <= NUMBER_KEYS[key]:
            record[key] = int(value)
    return record or None


_HOST = {"sqlite": "json_extract(j.worker, '$.host')", "postgres": "(j.worker::json ->> 'host')"}
_NODES = """
SELECT s.name, {host}, COUNT(*),
       SUM(CASE WHEN j.state = 'completed' THEN 1 ELSE 0 END),
       SUM(CASE WHEN j.state = 'failed' THEN 1 ELSE 0 END), MIN(j.worker)
FROM job j JOIN site s ON s.id = j.site_id
WHERE j.test_id = {param} AND j.worker IS NOT NULL
GROUP BY s.name, {host} ORDER BY s.name, {host}"""


def nodes(test_id: int) -> list[dict]:
    """The worker nodes of a test with their jobs, outcomes and description, each
    flagged `black_hole` when it failed every one of at least BLACK_HOLE_JOBS jobs."""
    sql = _NODES.format(host=_HOST["postgres" if is_postgres() else "sqlite"],
                        param=database.param)
    found = []
    for site, host, jobs, completed, failed, sample in database.execute_sql(sql, (test_id,)):
        described = payload.parse_json(sample.encode(), "worker") if sample else {}
        ended = (completed or 0) + (failed or 0)
        found.append({"site": site, "host": host or "unknown", "jobs": jobs,
                      "completed": completed or 0, "failed": failed or 0,
                      "efficiency": (completed or 0) / ended if ended else None,
                      "cpu": described.get("cpu"), "cores": described.get("cores"),
                      "os": described.get("os"), "runtime": described.get("runtime"),
                      "black_hole": (failed or 0) >= BLACK_HOLE_JOBS and not completed})
    return found
