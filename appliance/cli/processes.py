"""Commands that run or prepare the appliance's processes: db, agents, web, all."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from appliance import config as config_module
from appliance import sessionkey
from appliance.config import Config
from appliance.db import open_database, pending_migrations, redact, upgrade

# Secrets only the web (and hc bootstrap) use. An agent never holds them: it runs payloads,
# and a payload that reads /proc/<agent>/environ must find nothing to steal.
WEB_ONLY_SECRETS = ("HC_SECRET_KEY", "HC_ADMIN_PASSWORD", "HC_OIDC_CLIENT_SECRET")


def without_web_secrets(environ) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k not in WEB_ONLY_SECRETS}


def _drop_web_secrets() -> None:
    """Start this agent again without the web's secrets if it was given any (by a
    supervisor, a compose file or a shell that exports them all): a process's initial
    environment stays readable in /proc for its whole life, whatever os.environ says."""
    if any(name in os.environ for name in WEB_ONLY_SECRETS):
        os.execve(sys.executable, [sys.executable, "-m", "appliance", *sys.argv[1:]],
                  without_web_secrets(os.environ))


def add_commands(commands) -> None:
    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True, metavar="ACTION")
    db.add_parser("upgrade", help="apply pending migrations").set_defaults(run=db_upgrade)
    db.add_parser("status", help="list pending migrations").set_defaults(run=db_status)

    agent = commands.add_parser("agent", help="run an agent in the foreground")
    agent.add_argument("kind", choices=["server", "submit"])
    agent.set_defaults(run=lambda args, settings: run_agent(args.kind, settings))
    for kind in ("server", "submit"):
        commands.add_parser(kind, help=f"run the {kind} agent (same as `agent {kind}`)") \
            .set_defaults(run=lambda args, settings, kind=kind: run_agent(kind, settings))
    commands.add_parser("web", help="serve the web UI with gunicorn").set_defaults(run=run_web)
    commands.add_parser("all", help="web, server and submit agents together on this host "
                        "(development)").set_defaults(run=run_all)
    commands.add_parser("config", help="check the HC_ settings and print them").set_defaults(
        run=show_config)


def connect(settings: Config, migrate: bool = True) -> None:
    open_database(settings.database_url, wait=settings.db_wait)
    if migrate:
        upgrade()


def db_upgrade(args, settings: Config) -> int:
    open_database(settings.database_url, wait=settings.db_wait)
    applied = upgrade()
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    return 0


def db_status(args, settings: Config) -> int:
    open_database(settings.database_url, wait=settings.db_wait)
    pending = pending_migrations()
    print("pending: " + ", ".join(pending) if pending else "schema is up to date")
    return 0


def show_config(args, settings: Config) -> int:
    for setting in config_module.SETTINGS:
        value = getattr(settings, setting.field)
        if setting.field == "database_url":
            value = redact(value)
        if setting.field == "secret_key":
            value = "(set)" if value else "(empty)"
        print(f"{setting.env_name}={value}")
    from appliance import budget
    for line in budget.lines(budget.budget(settings, with_database=False)):
        print("# " + line)
    return 0


def run_agent(kind: str, settings: Config) -> int:
    from appliance.agents.runner import Runner
    from appliance.agents.server import ServerAgent
    from appliance.agents.submit import SubmitAgent

    _drop_web_secrets()
    connect(settings)
    agent = (ServerAgent if kind == "server" else SubmitAgent)(settings)
    runner = Runner(agent)
    runner.install_signal_handlers()
    runner.run()
    return 0


def run_web(args, settings: Config) -> int:
    sessionkey.signing_key(settings.secret_key, settings.dev)  # before anything starts
    connect(settings)
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--config",
                               "python:appliance.web.gunicorn_conf", "--bind", settings.web_bind,
                               "--workers", str(settings.web_workers), "appliance.web.wsgi:app"])
    return 0


def run_all(args, settings: Config) -> int:
    """Development: the three programs as child processes, stopped together.
    Only the web gets the session key: the agents have no use for it."""
    sessionkey.signing_key(settings.secret_key, settings.dev)
    connect(settings)
    os.makedirs(settings.work_dir, exist_ok=True)
    agent_environ = without_web_secrets(os.environ)
    programs = {name: subprocess.Popen([sys.executable, "-m", "appliance", name],
                                       env=None if name == "web" else agent_environ)
                for name in ("server", "submit", "web")}
    print(f"hc-appliance running: web UI on http://{settings.web_bind}/, data in "
          f"{settings.data_dir}; Ctrl-C stops it", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        while not stopping and all(p.poll() is None for p in programs.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for process in programs.values():
        if process.poll() is None:
            process.terminate()
    failed = [name for name, p in programs.items() if p.wait(timeout=15) not in (0, -15)]
    if failed and not stopping:
        print(f"hc: stopped because {', '.join(failed)} exited", file=sys.stderr)
        return 1
    return 0
