"""A-REX's REST interface (ARC 6, /rest/1.0) as used by the arc backend: calls,
the xRSL it is given, and the parsing of its answers (pure functions, so tests
feed recorded replies).

Conventions of the interface worth knowing: one job in an answer is a JSON
object, several a list; per-job status codes are strings; a bulk request is
201 or 200 overall with each job's own code inside.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import math
import os
import shlex

import requests

from appliance import workers
from appliance.backends.base import BackendError, JobSpec

API = "/rest/1.0"
JSON = {"Accept": "application/json"}
# A-REX states (arcrest:...) in the order a job passes them.
QUEUED_STATES = {"ACCEPTING", "ACCEPTED", "PREPARING", "PREPARED", "SUBMITTING", "QUEUING",
                 "HELD"}
RUNNING_STATES = {"RUNNING", "EXITINGLRMS", "OTHER", "EXECUTED", "FINISHING", "KILLING"}
FINAL_STATES = {"FINISHED", "FAILED", "KILLED", "WIPED"}
OUTPUTS = ("stdout", "stderr")
SCRIPT_FILE = "hc-job.sh"
MAX_FILES = 500  # files fetched back from one job's session folder


class Client:
    """One CE endpoint, authenticated with a proxy file, verified against a CA folder."""

    def __init__(self, endpoint: str, ca_dir: str, timeout: float):
        self.base = endpoint.rstrip("/") + API
        self.session = requests.Session()
        # Else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE silently override `verify`.
        self.session.trust_env = False
        self.session.verify = ca_dir
        self.timeout = timeout

    def use_proxy(self, proxy_file: str) -> None:
        self.session.headers.pop("Authorization", None)
        self.session.cert = proxy_file

    def use_token(self, token: str) -> None:
        """A WLCG bearer token instead of a client certificate (A-REX's [authtokens])."""
        self.session.cert = None
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, expect=(200, 201), **options) -> requests.Response:
        try:
            answer = self.session.request(method, self.base + path, timeout=self.timeout,
                                          **options)
        except requests.exceptions.SSLError as error:
            raise BackendError(f"TLS with the CE failed (expired or unknown credential?): "
                               f"{_short(error)}") from None
        except requests.RequestException as error:
            raise BackendError(f"the CE does not answer: {_short(error)}") from None
        if answer.status_code not in expect:
            raise BackendError(f"the CE answered {method} {path.split('?')[0]} with HTTP "
                               f"{answer.status_code}: {answer.text.strip()[:300]}")
        return answer

    def jobs_action(self, action: str, ids: list[str]) -> list[dict]:
        answer = self.call("POST", f"/jobs?action={action}", headers=JSON,
                           json={"job": [{"id": i} for i in ids]})
        return job_list(answer)

    def submit(self, xrsl: str) -> list[dict]:
        answer = self.call("POST", "/jobs?action=new", data=xrsl.encode(),
                           headers={**JSON, "Content-Type": "application/rsl"})
        return job_list(answer)

    def text(self, path: str) -> str | None:
        """A diagnose or session file; None when the CE has no such file."""
        answer = self.call("GET", path, expect=(200, 404))
        return answer.text if answer.status_code == 200 else None

    def download(self, path: str, target: str) -> bool:
        answer = self.call("GET", path, expect=(200, 404), stream=True)
        if answer.status_code == 404:
            return False
        with open(target, "wb") as handle:
            for chunk in answer.iter_content(1 << 16):
                handle.write(chunk)
        return True

    def names(self) -> dict[str, str]:
        """{job name: CE id} of every job the CE holds for us."""
        ids = [job["id"] for job in job_list(self.call("GET", "/jobs", headers=JSON))
               if job.get("id")]
        names = {}
        for start in range(0, len(ids), 500):
            for answer in self.jobs_action("info", ids[start:start + 500]):
                activity = (answer.get("info_document") or {}).get("ComputingActivity") or {}
                if isinstance(activity, dict) and activity.get("Name"):
                    names[str(activity["Name"])] = answer.get("id")
        return names

    def session_files(self, job: str) -> list[str]:
        """Paths of the files in a job's session folder (sub-folders included)."""
        found: list[str] = []
        folders = [""]
        while folders and len(found) < MAX_FILES:
            folder = folders.pop()
            answer = self.call("GET", f"/jobs/{job}/session/{folder}".rstrip("/"),
                               expect=(200, 404), headers=JSON)
            if answer.status_code == 404:
                continue
            try:
                listing = answer.json() or {}
            except ValueError:
                continue
            found += [folder + name for name in _as_list(listing.get("file"))]
            folders += [folder + name + "/" for name in _as_list(listing.get("dir"))]
        return [path for path in found[:MAX_FILES] if ".." not in path.split("/")]

    def close(self) -> None:
        self.session.close()


def _short(error: Exception) -> str:
    return str(error).replace("\n", " ")[:300]


def job_list(answer: requests.Response) -> list[dict]:
    try:
        jobs = answer.json().get("job", [])
    except (ValueError, AttributeError):
        raise BackendError(f"the CE's answer is not JSON: {answer.text[:200]!r}") from None
    return [jobs] if isinstance(jobs, dict) else list(jobs)


def quote(text: str) -> str:
    """An xRSL string literal: double quotes, an inner quote doubled."""
    return '"' + str(text).replace('"', '""') + '"'


def job_script(spec: JobSpec, metrics_name: str, payload: str | None = None) -> str:
    """The payload as one `sh -c` script: the template's environment exported
    (A-REX's own environment= loses quotes), the job folder being the session
    folder on the CE; `payload` replaces the bare command (a container runtime)."""
    # X509_USER_PROXY: A-REX gives the job the proxy delegated to it (a path on our
    # side would mean nothing there).
    environment = {k: v for k, v in spec.payload_environment().items()
                   if k not in ("HC_JOB_DIR", "HC_METRICS_FILE", "X509_USER_PROXY")}
    exports = "".join(f"export {name}={shlex.quote(value)}\n"
                      for name, value in environment.items())
    return (f'export HC_JOB_DIR="$PWD" HC_METRICS_FILE="$PWD/{metrics_name}"\n'
            f"{exports}{workers.SNIPPET}{payload or spec.command + chr(10)}")


WALLTIME_MARGIN = 60  # s the CE's wall time limit adds to a test's job timeout


def job_name(work_dir: str) -> str:
    """The name a job has at the CE: its folder's name and a hash of the folder's
    path, so that a job whose id never reached its folder is found again by name,
    and not confused with another instance's job of the same number."""
    folder = os.path.normpath(work_dir)
    digest = hashlib.sha256(folder.encode()).hexdigest()[:12]
    return f"hc-{os.path.basename(folder)}-{digest}"


def xrsl(spec: JobSpec, script: str, queue: str, delegation: str | None,
         lifetime: int) -> str:
    """One job's description, running `script` (job_script). Output files must
    be declared, else A-REX deletes them: "/" keeps the whole session folder for
    us to fetch."""
    outputs = '("/" "")'
    # With its unit: A-REX reads a bare number as seconds (a timeout of 300 s sent as
    # "5" gave every job a Slurm limit of one minute). A little above the test's
    # timeout, so that the agent's own timeout, which says so in the job's record,
    # comes first; the CE's limit ends a job nobody looks after any more.
    walltime = f"{max(1, int(spec.timeout)) + WALLTIME_MARGIN} seconds"
    # A-REX turns newlines of arguments into spaces: the script travels in base64.
    encoded = base64.b64encode(script.encode()).decode()
    unpack = f"echo {encoded} | base64 -d > {SCRIPT_FILE} && exec /bin/sh {SCRIPT_FILE}"
    return (f'&(executable="/bin/sh")(arguments="-c" {quote(unpack)})'
            f'(stdout="stdout")(stderr="stderr")(outputfiles={outputs})'
            f'(jobname={quote(job_name(spec.work_dir))})(queue={quote(queue)})'
            f'(walltime="{walltime}")(lifetime="{lifetime}")'
            + (f'(delegationid={quote(delegation)})' if delegation else ""))


def many(descriptions: list[str]) -> str:
    """Several jobs in one request: +(&...)(&...)."""
    if len(descriptions) == 1:
        return descriptions[0]
    return "+" + "".join(f"({d})" for d in descriptions)


def parse_diag(text: str | None) -> dict:
    """key=value lines of the job's diag file (exitcode, LRMSStartTime, UserTime, ...)."""
    values = {}
    for line in (text or "").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def diag_time(text: str | None) -> float | None:
    """20261202122907Z -> UNIX seconds."""
    if not text:
        return None
    try:
        moment = datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ")
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.UTC).timestamp()


def diag_seconds(text: str | None) -> float | None:
    """'0.25s' -> 0.25; None for what is not a finite, non-negative number of seconds."""
    try:
        seconds = float((text or "").rstrip("s"))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def ce_summary(info: dict, queue: str) -> tuple[str, str | None]:
    """From GET /info: (what the CE says about itself, a problem or None)."""
    try:
        service = info["Domains"]["AdminDomain"]["Services"]["ComputingService"]
    except (KeyError, TypeError):
        return "the CE's info has no ComputingService", "the CE publishes no computing service"
    endpoints = _as_list(service.get("ComputingEndpoint"))
    health = sorted({str(e.get("HealthState", "?")) for e in endpoints})
    serving = sorted({str(e.get("ServingState", "?")) for e in endpoints})
    shares = {str(s.get("MappingQueue") or s.get("Name")): s
              for s in _as_list(service.get("ComputingShare"))}
    share = shares.get(queue)
    found = (f"A-REX {service.get('ID', '?')}: endpoints {'/'.join(health)}, "
             f"{'/'.join(serving)}; queues: {', '.join(sorted(shares)) or 'none'}")
    if share is None:
        return found, f"queue {queue} not found at the CE; it has: {', '.join(sorted(shares))}"
    state = str(share.get("ServingState", "production"))
    found += (f"; queue {queue} {state}, {share.get('RunningJobs', 0)} running, "
              f"{share.get('WaitingJobs', 0)} waiting")
    if state not in ("production", "queueing"):
        return found, f"queue {queue} is {state}"
    if "critical" in health and "ok" not in health:
        return found, "every CE endpoint reports health critical"
    return found, None


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def write_json(path: str, value: dict) -> None:
    """Written whole under a temporary name, then renamed: a reader sees all or
    nothing. Plain os calls: one per submitted job, on the submission's path."""
    temporary = path + ".tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(descriptor, json.dumps(value).encode())
    finally:
        os.close(descriptor)
    os.replace(temporary, path)


def read_json(path: str) -> dict | None:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None
