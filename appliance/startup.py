"""Container start-up (`hc bootstrap`) and health check (`hc healthcheck`).

bootstrap: refuse a production start without its secrets, wait for the
database, migrate (once, under the migration lock, however many containers
start together), create the admin account named by HC_ADMIN_USER, and load the
demo data when HC_DEMO=1.
"""
from __future__ import annotations

import http.client
import os
import socket
import sys
import urllib.request
import xmlrpc.client

from appliance import sessionkey
from appliance.config import Config
from appliance.db import open_database, redact, upgrade
from appliance.errors import BadInput

# supervisord's control socket (supervisord.conf, [unix_http_server]).
SUPERVISOR_SOCKET = "/tmp/supervisor.sock"


class StartupError(RuntimeError):
    """The container cannot start as configured; the message says how to fix it."""


def check_secrets(settings: Config, environ=os.environ) -> None:
    from appliance import accounts
    if settings.dev:
        return
    problems = []
    if settings.role in ("all", "web") and sessionkey.problem(settings.secret_key):
        problems.append(sessionkey.problem(settings.secret_key))
    if environ.get("HC_ADMIN_USER"):
        try:
            accounts.check_password(environ.get("HC_ADMIN_PASSWORD", ""))
        except BadInput as problem:
            problems.append(f"HC_ADMIN_PASSWORD (set with HC_ADMIN_USER) {problem}"
                            .replace("user.password: ", ""))
    if problems:
        raise StartupError("production start refused (HC_DEV=0): " + "; ".join(problems))


def ensure_admin(environ=os.environ, development: bool = True) -> str | None:
    from appliance import accounts
    from appliance.models import User
    from appliance.states import Role
    name = environ.get("HC_ADMIN_USER")
    if not name:
        return None
    password = environ.get("HC_ADMIN_PASSWORD") or ""
    try:
        accounts.check_password(password, development=development)
    except BadInput as problem:
        raise StartupError(f"HC_ADMIN_PASSWORD (set with HC_ADMIN_USER): {problem}"
                           .replace("user.password: ", "")) from None
    if User.get_or_none(User.name == name) is None:
        User.create(name=name, role=Role.ADMIN.value,
                    password_hash=accounts.hash_password(password))
        return f"admin account {name} created"
    return f"admin account {name} exists"


def bootstrap(args, settings: Config) -> int:
    from appliance import demo
    check_secrets(settings)
    os.makedirs(settings.work_dir, exist_ok=True)
    print(f"hc bootstrap: database {redact(settings.database_url)} (waiting up to "
          f"{settings.db_wait:.0f} s)", flush=True)
    open_database(settings.database_url, wait=settings.db_wait)
    applied = upgrade()
    print(f"hc bootstrap: migrations applied: {', '.join(applied) or 'none needed'}", flush=True)
    message = ensure_admin(development=settings.dev)
    if message:
        print(f"hc bootstrap: {message}", flush=True)
    if demo.enabled(os.environ):
        print(f"hc bootstrap: demo data: {demo.load()}", flush=True)
        for line in demo.first_steps(os.environ.get("HC_ADMIN_USER")):
            print(f"hc bootstrap: {line}", flush=True)
    return 0


def healthcheck(args, settings: Config) -> int:
    """0 when every program of the role runs and, for the web, the database answers."""
    stopped = programs_not_running()
    if stopped:
        print(stopped, file=sys.stderr)
        return 1
    if settings.role in ("all", "server", "submit"):
        problem = agent_problem(settings)
        if problem:
            print(problem, file=sys.stderr)
            return 1
    if settings.role in ("all", "web"):
        port = settings.web_bind.rsplit(":", 1)[-1]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=4) as reply:
                return 0 if reply.status == 200 else 1
        except OSError as error:
            print(f"web not ready: {error}", file=sys.stderr)
            return 1
    return 0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float):
        super().__init__()
        self.path, self.timeout = path, timeout

    def make_connection(self, host):
        return _UnixConnection(self.path, self.timeout)


def programs_not_running(path: str = SUPERVISOR_SOCKET, timeout: float = 3.0) -> str | None:
    """What is wrong with supervisord's programs, asked over its socket (what supervisorctl
    does, without starting a second Python for it every few seconds); None when all run."""
    try:
        proxy = xmlrpc.client.ServerProxy("http://localhost", _UnixTransport(path, timeout))
        programs = proxy.supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Error) as error:
        return f"supervisord does not answer on {path}: {error}"
    down = [f"{p['name']} is {p['statename']}" for p in programs if p["statename"] != "RUNNING"]
    if not programs:
        return "supervisord runs no programs"
    return "; ".join(down) or None


def agent_problem(settings: Config) -> str | None:
    """Why this node's agents are not healthy: the database does not answer (a node
    cut off from it cannot act on its tests), an agent's heartbeat is stale, or an
    agent reports a problem (a full work area). None when healthy."""
    import time

    from appliance.liveness import agent_state
    from appliance.models import Agent
    try:
        open_database(settings.database_url)
        roles = ["server", "submit"] if settings.role == "all" else [settings.role]
        agents = list(Agent.select().where(Agent.host == settings.hostname,
                                           Agent.role.in_(roles)))
    except Exception as error:
        return f"database unreachable: {str(error).strip()[:300]}"
    now = time.time()
    for agent in agents:
        state = agent_state(agent.heartbeat_at, agent.stopped_at, now, settings.agent_dead_after)
        if state != "alive":
            return f"{agent.role} agent is {state}"
        if agent.problem:
            return f"{agent.role} agent: {agent.problem}"
    return None


def add_commands(commands) -> None:
    commands.add_parser("bootstrap", help="prepare a container start: secrets, database, "
                        "migrations, admin account, demo data").set_defaults(run=bootstrap)
    commands.add_parser("healthcheck", help="container health: programs running, web ready") \
        .set_defaults(run=healthcheck)
    commands.add_parser("demo", help="load the demo sites and templates (idempotent)") \
        .set_defaults(run=_demo)


def _demo(args, settings: Config) -> int:
    from appliance import demo
    open_database(settings.database_url, wait=settings.db_wait)
    upgrade()
    print(demo.load())
    return 0
