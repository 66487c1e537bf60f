"""Liveness and readiness for load balancers and container health checks."""
from flask import Blueprint, current_app, jsonify

from appliance.db import database
from appliance.liveness import is_alive

blueprint = Blueprint("probes", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz():
    try:
        database.execute_sql("SELECT 1")
    except Exception as error:  # any failure means not ready
        return jsonify(status="unavailable", error=str(error)), 503
    return jsonify(status="ok")


def _credential_lines(now: float) -> list[str]:
    """Seconds until each credential can no longer be used, and its state (0 ok,
    1 warning, 2 expired): alert on them ahead of expiry."""
    from appliance import credentials
    from appliance.models import Credential
    left, level = ["# TYPE hc_credential_seconds_left gauge"], ["# TYPE hc_credential_state gauge"]
    codes = {"ok": 0, "warning": 1, "expired": 2}
    for row in Credential.select():
        state = credentials.health(row, now)
        ends = min(row.expires_at, row.usable_until or row.expires_at)
        left.append(f'hc_credential_seconds_left{{credential="{row.name}"}} {ends - now:.0f}')
        level.append(f'hc_credential_state{{credential="{row.name}"}} {codes[state.level]}')
    return left + level


@blueprint.get("/metrics")
def metrics():
    """Prometheus text: tests and jobs per state, agents' heartbeat ages."""
    import time

    import peewee as pw
    from flask import Response

    from appliance.models import Agent, Job, Test
    lines = ["# TYPE hc_tests gauge"]
    for state, number in Test.select(Test.state, pw.fn.COUNT(Test.id)).group_by(Test.state) \
            .tuples():
        lines.append(f'hc_tests{{state="{state}"}} {number}')
    lines.append("# TYPE hc_jobs gauge")
    for state, number in Job.select(Job.state, pw.fn.COUNT(Job.id)).group_by(Job.state).tuples():
        lines.append(f'hc_jobs{{state="{state}"}} {number}')
    now = time.time()
    dead_after = current_app.config["HC"].agent_dead_after
    ages, up = ["# TYPE hc_agent_heartbeat_age_seconds gauge"], ["# TYPE hc_agent_up gauge"]
    for agent in Agent.select():
        host = agent.host.replace("\\", "\\\\").replace('"', '\\"')
        labels = f'role="{agent.role}",host="{host}"'
        ages.append(f"hc_agent_heartbeat_age_seconds{{{labels}}} {now - agent.heartbeat_at:.1f}")
        up.append(f"hc_agent_up{{{labels}}} {int(is_alive(agent, now, dead_after))}")
    problems = ["# TYPE hc_agent_problem gauge"] + [  # 1: see the index for what it is
        f'hc_agent_problem{{role="{a.role}",host="{_label(a.host)}"}} {int(bool(a.problem))}'
        for a in Agent.select(Agent.role, Agent.host, Agent.problem)]
    lines += ages + up + problems + _disk_lines()
    lines += _credential_lines(now)
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _disk_lines() -> list[str]:
    """The disk budget (appliance/budget.py) as gauges."""
    from appliance import budget
    figures = budget.budget(current_app.config["HC"])
    lines = ["# TYPE hc_volume_bytes gauge"]
    for volume, values in (("work", figures["work"]), ("database", figures["database"])):
        for kind in ("total", "free"):
            if kind in values:
                lines.append(f'hc_volume_bytes{{volume="{volume}",kind="{kind}"}} {values[kind]}')
    lines.append("# TYPE hc_database_bytes gauge")
    lines.append(f"hc_database_bytes {figures['database']['size'] or 0}")
    lines.append("# TYPE hc_disk_warnings gauge")
    lines.append(f"hc_disk_warnings {len(figures['warnings'])}")
    return lines
