"""Container start-up (`hc bootstrap`) and health check (`hc healthcheck`).

bootstrap: refuse a production start without its secrets, wait for the
database, migrate (once, under the migration lock, however many containers
start together), create the admin account named by HC_ADMIN_USER, and load the
demo data when HC_DEMO=1.
"""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

from appliance import accounts, demo, sessionkey
from appliance.config import Config
from appliance.db import open_database, redact, upgrade
from appliance.errors import BadInput
from appliance.models import User
from appliance.states import Role


class StartupError(RuntimeError):
    """The container cannot start as configured; the message says how to fix it."""


def check_secrets(settings: Config, environ=os.environ) -> None:
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
    status = subprocess.run(["supervisorctl", "-c", "/etc/hc/supervisord.conf", "status"],
                            capture_output=True, text=True)
    if status.returncode != 0:
        print(status.stdout.strip() or status.stderr.strip(), file=sys.stderr)
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
    open_database(settings.database_url, wait=settings.db_wait)
    upgrade()
    print(demo.load())
    return 0
