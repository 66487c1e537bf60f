"""The README's quick start, followed as written on a fresh clone of this repository:
its commands are read from README.md, not copied here. `scripts/dev` opens on the demo
(log in as the README says, a functional test running), the README's `hc run` example
exits 0, and `docker compose up` with the README's additions for a machine without a
registry and behind a TLS-inspecting proxy becomes healthy and serves the demo."""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from tests.conftest import free_port
from tests.container.conftest import ROOT, docker

pytestmark = pytest.mark.slow

README = os.path.join(ROOT, "README.md")


def readme() -> str:
    with open(README) as handle:
        return handle.read()


def quick_start() -> list[list[str]]:
    """The shell blocks of the README's quick start, each a list of its command lines."""
    text = readme()
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return [[line for line in block.splitlines() if line.strip()]
            for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def command(starting: str) -> str:
    """The quick start's one command line that starts with `starting`."""
    found = [line for block in quick_start() for line in block if line.startswith(starting)]
    assert len(found) == 1, f"README quick start: {len(found)} lines start with {starting!r}"
    return found[0]


def additions() -> list[str]:
    """The block a machine without a registry, behind a TLS-inspecting proxy, adds."""
    found = [block for block in quick_start() if any("HC_BASE_IMAGE" in line for line in block)]
    assert len(found) == 1, "README quick start: no single block sets HC_BASE_IMAGE"
    return found[0]


def get(url: str, opener=None, timeout: float = 5) -> str:
    with (opener or urllib.request.build_opener()).open(url, timeout=timeout) as reply:
        return reply.read().decode()


def wait_until(check, seconds: float, what: str, process=None):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the command exited with {process.returncode}")
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError, KeyError, IndexError) as error:
            last = error
        time.sleep(0.5)
    raise AssertionError(f"not {what} within {seconds:.0f} s (last error: {last})")


def running_functional(url: str) -> list[dict]:
    reply = json.loads(get(f"{url}/api/v1/tests?state=running&category=functional"))
    return [t for t in reply["tests"] if t["template"] == "demo-functional"]


def log_in(url: str, name: str, password: str) -> str:
    """Log in through the login form like a browser; the front page seen afterwards."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = get(f"{url}/login", opener)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"name": name, "password": password, "next": "/",
                                   "csrf_token": token}).encode()
    with opener.open(f"{url}/login", data=data, timeout=10) as reply:
        return reply.read().decode()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> str:
    """A fresh clone of this repository's committed state."""
    target = str(tmp_path_factory.mktemp("readme") / "hc-appliance")
    subprocess.run(["git", "clone", "-q", ROOT, target], check=True, timeout=60)
    return target


@pytest.fixture(scope="module")
def dev(clone, tmp_path_factory):
    """`scripts/dev` as the README runs it (on a free port instead of 8000)."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    environ["HC_WEB_BIND"] = f"127.0.0.1:{port}"
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path_factory.mktemp("dev") / "dev.log", "w+") as log:
        process = subprocess.Popen(["bash", "-c", command("scripts/dev")], cwd=clone,
                                   env=environ, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            # A fresh clone: scripts/dev makes .venv and installs the appliance first.
            wait_until(lambda: get(f"{url}/readyz"), 240, "answering", process)
            yield url
        except AssertionError as error:
            log.seek(0)
            raise AssertionError(f"{error}\n{log.read()[-3000:]}") from None
        finally:
            stop(process)


def test_scripts_dev_opens_on_the_demo(dev):
    tests = wait_until(lambda: running_functional(dev), 60, "running demo-functional")
    page = get(dev + "/")
    assert "demo-functional" in page and "demo-simulated" in page
    # The README: log in as admin / admin; then "New stress test" is there to click.
    login = re.search(r"\*\*log in as (\w+) / (\w+)\*\*", readme())
    assert login, "the README's first screen says how to log in"
    page = log_in(dev, login.group(1), login.group(2))
    assert "New stress test" in page and f"/tests/{tests[0]['id']}" in page


def test_readme_hc_run_example_exits_0(dev, clone):
    line = command(".venv/bin/hc run ")
    example = line.split()[2]
    # The README shows the example file as it is.
    with open(os.path.join(clone, example)) as handle:
        assert handle.read() in readme()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    done = subprocess.run(["bash", "-c", line], cwd=clone, env=environ, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: PASS" in done.stdout


def _compose() -> list[str]:
    """`docker compose` (v2); compose v1's `docker-compose` where there is no v2."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("no docker compose (v2) nor docker-compose (v1)")


@pytest.mark.container
def test_docker_compose_up_becomes_healthy_and_serves_the_demo(docker_engine, clone, tmp_path):
    compose = _compose()
    up = command("docker compose up")
    if compose == ["docker-compose"]:
        up = up.replace("docker compose up", "docker-compose up", 1)
    project = f"hcreadme{secrets.token_hex(3)}"
    port = free_port()
    # Isolation from other runs on this machine only: its own project, port and image tag.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    environ.update(COMPOSE_PROJECT_NAME=project, HC_PORT=str(port),
                   HC_IMAGE_TAG=f"readme-{project}")
    script = "set -e\n" + "\n".join(additions()) + "\nexec " + up
    label = f"label=com.docker.compose.project={project}"

    def healthy():
        ids = docker("ps", "-q", "--filter", label, timeout=30).stdout.split()
        return ids and docker("inspect", "-f", "{{.State.Health.Status}}", ids[0],
                              timeout=30).stdout.strip() == "healthy"

    started = time.monotonic()
    with open(tmp_path / "compose.log", "w+") as log:
        process = subprocess.Popen(["bash", "-c", script], cwd=clone, env=environ, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(healthy, 600, "healthy", process)  # 2 cores shared: allow slack
            seconds = time.monotonic() - started
            print(f"docker compose up on a fresh clone to a healthy UI: {seconds:.0f} s "
                  "(build included)")
            url = f"http://127.0.0.1:{port}"
            # Healthy means the web and the agents answer; the server's first rounds then
            # create the demo's functional test and give it to the submit agent.
            wait_until(lambda: "demo-functional" in get(url + "/"), 30,
                       "demo-functional on the front page", process)
            wait_until(lambda: running_functional(url), 60, "running demo-functional")
        except AssertionError as error:
            log.seek(0)
            raise AssertionError(f"{error}\n{log.read()[-4000:]}") from None
        finally:
            stop(process)
            subprocess.run([*compose, "down", "-v", "--rmi", "all"], cwd=clone, env=environ,
                           capture_output=True, timeout=120)
