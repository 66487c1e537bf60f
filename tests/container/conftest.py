"""Container fixtures: a reachable Docker engine and the appliance image, built offline."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import require

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCAL_BASE = "hc-base/python:3.11-bookworm"
IMAGE_TAG = "0.1.0-test"
IMAGE = f"hc-appliance:{IMAGE_TAG}"

# Prints the jobs of every test and the job folders of the work area, as JSON.
ACCOUNTING = """
import json, os
from appliance import config, workarea
from appliance.db import open_database
from appliance.models import Job, Test
settings = config.load()
open_database(settings.database_url)
print(json.dumps({t.id: {"state": t.state, "host": t.submit_host,
    "jobs": {j.id: [j.state, j.submit_host, j.reason]
             for j in Job.select().where(Job.test == t.id)},
    "folders": sorted(workarea.job_folders(settings.work_dir, t.id))} for t in Test.select()}))
"""


def docker(*argv: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, check=check,
                          timeout=timeout)


def accounting(container: str) -> dict:
    out = docker("exec", container, "python", "-c", ACCOUNTING).stdout
    return {int(k): v for k, v in json.loads(out).items()}


@pytest.fixture(scope="session")
def docker_engine():
    try:
        docker("info", timeout=20)
    except (OSError, subprocess.SubprocessError):
        require("DOCKER", "no Docker engine is reachable (install docker.io, start dockerd)")


@pytest.fixture(scope="session")
def app_image(docker_engine) -> str:
    """The appliance image, built offline from a local base (built first if missing)."""
    base = os.environ.get("HC_BASE_IMAGE", "python:3.11-slim-bookworm")
    if docker("image", "inspect", base, check=False).returncode != 0:
        base = LOCAL_BASE
        if docker("image", "inspect", base, check=False).returncode != 0:
            subprocess.run([os.path.join(ROOT, "scripts", "build-base-images")], check=True,
                           capture_output=True, timeout=900)
    subprocess.run([os.path.join(ROOT, "scripts", "build-image"), IMAGE], check=True,
                   env=dict(os.environ, BASE_IMAGE=base), capture_output=True, timeout=900)
    return IMAGE
