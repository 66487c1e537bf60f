"""Podman on this machine's Slurm workers: what a site needs to use it here.

Podman from Debian runs with runc (crun refuses this kernel's cgroup setup) and
with explicit ulimits (raising them to the host's limits is not permitted)."""
from __future__ import annotations

import shutil

from tests.conftest import require

PODMAN_OPTIONS = ["--runtime", "runc", "--ulimit", "nofile=1024:1024",
                  "--ulimit", "nproc=4096:4096"]


def ensure_podman() -> None:
    if not shutil.which("podman"):
        require("PODMAN", "podman is not installed (apt-get install podman)")


def podman_site(**extra) -> dict:
    """Settings of a Slurm site that runs images with podman."""
    return {"poll_interval": 0.2, "partition": "debug", "container_runtime": "podman",
            "runtime_options": list(PODMAN_OPTIONS), **extra}
