"""A newcomer's `docker compose up`: seconds from the command to a healthy UI on a fresh
clone, the image build included. Prints figures, asserts nothing (target: 120 s).

    python bench/quickstart.py            # cold (no build cache), then after a code change

The README's quick start is followed as written (its commands read from README.md, with
its additions for a machine without a registry and behind a TLS-inspecting proxy; the
base image must exist or `scripts/build-base-images` builds it first). Cold: the build
runs with no cache at all, as on a machine that never built the image. Warm: one file of
the appliance changed, `docker compose up --build` again: the dependency layer is reused.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.conftest import free_port  # noqa: E402
from tests.container.test_readme import additions, command  # noqa: E402


def compose() -> str:
    done = subprocess.run(["docker", "compose", "version"], capture_output=True)
    return "docker compose" if done.returncode == 0 else "docker-compose"


def healthy(project: str) -> bool:
    ids = subprocess.run(["docker", "ps", "-q", "--filter",
                          f"label=com.docker.compose.project={project}"],
                         capture_output=True, text=True).stdout.split()
    return bool(ids) and subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Health.Status}}", ids[0]],
        capture_output=True, text=True).stdout.strip() == "healthy"


def timed_up(clone: str, environ: dict, up: str, project: str) -> float:
    """Seconds from `up` (detached, so the build runs in the command) to healthy."""
    started = time.monotonic()
    script = "set -e\n" + "\n".join(additions()) + f"\n{up} -d >/dev/null 2>&1"
    subprocess.run(["bash", "-c", script], cwd=clone, env=environ, check=True)
    while not healthy(project):
        if time.monotonic() - started > 900:
            raise SystemExit("not healthy within 900 s")
        time.sleep(0.5)
    return time.monotonic() - started


def main() -> None:
    tool = compose()
    # The README's line without its comment, so that options can follow.
    up = command("docker compose up").split("#")[0].strip().replace("docker compose", tool, 1)
    project = f"hcbench{secrets.token_hex(3)}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    environ.update(COMPOSE_PROJECT_NAME=project, HC_IMAGE_TAG=f"bench-{project}",
                   HC_PORT=str(free_port()))
    with tempfile.TemporaryDirectory() as folder:
        clone = os.path.join(folder, "hc-appliance")
        subprocess.run(["git", "clone", "-q", ROOT, clone], check=True)
        try:
            # Cold: the same build with no cache, then the same `up` (build cached now)
            # to start it: the sum is what a machine without any cache sees.
            started = time.monotonic()
            script = "set -e\n" + "\n".join(additions()) + \
                f"\n{tool} build --no-cache >/dev/null 2>&1"
            subprocess.run(["bash", "-c", script], cwd=clone, env=environ, check=True)
            build = time.monotonic() - started
            start = timed_up(clone, environ, up, project)
            size = int(subprocess.run(
                ["docker", "image", "inspect", "-f", "{{.Size}}", f"hc-appliance:bench-{project}"],
                capture_output=True, text=True).stdout)
            print(f"cold: build {build:.0f} s + up to healthy {start:.0f} s = "
                  f"{build + start:.0f} s (target 120 s); image {size / 1e6:.0f} MB")
            with open(os.path.join(clone, "appliance", "demo.py"), "a") as handle:
                handle.write("\n# a code change\n")
            warm = timed_up(clone, environ, f"{up} --build", project)
            print(f"after a code change: up --build to healthy {warm:.0f} s")
        finally:
            subprocess.run(["bash", "-c", f"{tool} down -v --rmi all"], cwd=clone, env=environ,
                           capture_output=True)


if __name__ == "__main__":
    main()
