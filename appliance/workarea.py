"""Per-test work areas: `<work dir>/tests/<test id>/<site>/job-<job id>/`.

A job's folder holds spec.json (what was asked), stdout, stderr, the metrics
file and whatever the backend keeps there. The web UI serves these folders.
"""
from __future__ import annotations

import json
import os

from appliance import payload

SPEC_FILE = "spec.json"
TEST_FILE = "test.json"


def test_dir(work_dir: str, test_id: int) -> str:
    return os.path.join(work_dir, "tests", str(test_id))


def job_dir(work_dir: str, test_id: int, site_name: str, job_id: int) -> str:
    return os.path.join(test_dir(work_dir, test_id), site_name, f"job-{job_id}")


def job_id_of(folder_name: str) -> int | None:
    """The job id a job folder is named after, or None for other folders."""
    if folder_name.startswith("job-") and folder_name[4:].isdigit():
        return int(folder_name[4:])
    return None


def write_json(path: str, data: dict) -> None:
    """Write through a temporary name so a reader never sees half a file."""
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True, default=str)
    os.replace(temporary, path)


def write_new_json(path: str, data: dict) -> None:
    """Write a file in a folder just made: directly, without write_json's temporary
    name and rename, which cost a job a fifth of its making on an ext4 work volume. A
    reader may see it half written for a moment; nothing reads it but people (the log
    browser). (A folder left by an earlier database of the same work area is
    overwritten, as before.)"""
    # A key per line, each value in one piece by the C encoder: json.dump with an
    # indent runs the pure-Python encoder and writes a piece at a time.
    lines = [f" {json.dumps(str(key))}: {json.dumps(data[key], sort_keys=True, default=str)}"
             for key in sorted(data)]
    with open(path, "w") as handle:
        handle.write("{\n" + ",\n".join(lines) + "\n}\n" if lines else "{}\n")


def read_metrics(path: str) -> tuple[dict | None, str | None]:
    """The numbers of the JSON object a payload wrote; (None, problem) when unusable."""
    return payload.read_metrics(path)


def job_folders(work_dir: str, test_id: int) -> dict[int, str]:
    """Every job folder of a test's work area, by job id."""
    found = {}
    root = test_dir(work_dir, test_id)
    if not os.path.isdir(root):
        return found
    for site in os.scandir(root):
        if site.is_dir():
            for entry in os.scandir(site.path):
                job_id = job_id_of(entry.name)
                if job_id is not None and entry.is_dir():
                    found[job_id] = entry.path
    return found
