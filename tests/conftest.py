"""Shared fixtures: settings on a temporary folder, a migrated SQLite database,
and a throwaway PostgreSQL server started from Debian's packages."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from appliance import config
from appliance.db import database, open_database, upgrade


def require(flag: str, reason: str):
    """Skip with `reason`, or fail when CI set HC_REQUIRE_<flag>=1."""
    if os.environ.get(f"HC_REQUIRE_{flag}") == "1":
        pytest.fail(f"{reason} (HC_REQUIRE_{flag}=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture
def settings(tmp_path) -> config.Config:
    environ = {"HC_DATA_DIR": str(tmp_path / "data"), "HC_HOSTNAME": "test-host",
               "HC_LOG_LEVEL": "debug"}
    return config.load(environ)


@pytest.fixture
def db(settings):
    """A migrated SQLite database in the test's folder."""
    connection = open_database(settings.database_url)
    upgrade()
    yield connection
    # A submit agent's site checks run in a thread: let it finish on this database,
    # not on the next test's.
    for thread in threading.enumerate():
        if thread.name == "site-checks":
            thread.join(timeout=30)
    connection.close()
    database.initialize(None)


# Screenshots of the browser tests (not committed; see .gitignore).
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "artifacts")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (one for the whole run:
    Playwright's sync API allows one running instance per thread)."""
    if not shutil.which(CHROMIUM):
        require("BROWSER", "Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("BROWSER", "playwright is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS,
                                              headless=True)
        yield chromium
        chromium.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


class PostgresUrl(str):
    """The server's URL; `.restart()` restarts the server (connections break)."""


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a PostgreSQL server of our own on a free 127.0.0.1 port."""
    bindir = _postgres_bin()
    if bindir is None:
        require("POSTGRES", "PostgreSQL is not installed (apt-get install postgresql)")
    root = tempfile.mkdtemp(prefix="hc-pg-")
    os.chmod(root, 0o755)
    data = os.path.join(root, "data")
    port = free_port()
    as_postgres = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] \
        if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    run = lambda *argv: subprocess.run(as_postgres + list(argv), check=True,  # noqa: E731
                                       capture_output=True, cwd=root)
    run(f"{bindir}/initdb", "-D", data, "-U", "hc", "--auth=trust", "--locale=C.UTF-8",
        "-E", "UTF8")
    run(f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(root, "log"), "-w", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c max_connections=200", "start")
    try:
        run(f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "hc", "template_hc")
        url = PostgresUrl(f"postgresql://hc@127.0.0.1:{port}/")
        url.restart = lambda: run(f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(root, "log"),
                                  "-m", "fast", "-w", "restart")
        yield url
    finally:
        subprocess.run(as_postgres + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


_databases = iter(range(1, 10_000))


@pytest.fixture
def postgres_database(postgres_url) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    import psycopg2
    name = f"hc_{os.getpid()}_{next(_databases)}_{int(time.time())}"
    connection = psycopg2.connect(postgres_url + "template_hc")
    connection.autocommit = True
    connection.cursor().execute(f"CREATE DATABASE {name}")
    connection.close()
    return postgres_url + name


@pytest.fixture(scope="session")
def registry():
    """Debian's docker-registry on a free 127.0.0.1 port, for the whole run."""
    from tests.registry_server import LocalRegistry, ensure_registry_tools

    ensure_registry_tools()
    server = LocalRegistry().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pushed_images(registry):
    """Two images built here and pushed as hc-test/payload:v1 and :v2; the tag
    `moving` first names v1. {'v1': digest, 'v2': digest}"""
    from tests.backends.docker_case import docker_reachable
    from tests.registry_server import build_image

    if not docker_reachable():
        require("DOCKER", "no Docker engine is reachable (install docker.io, start dockerd)")
    digests = {}
    for version in ("v1", "v2"):
        image = build_image(f"hc-test/payload-registry:{version}", version)
        digests[version] = registry.push(image, f"hc-test/payload:{version}")
    registry.push("hc-test/payload-registry:v1", "hc-test/payload:moving")
    return digests
