"""When an agent counts as alive: one rule for the server's scheduling and
take-over, the index page and /metrics.

An agent is alive while it has not said it stopped and its heartbeat is younger
than HC_AGENT_DEAD_AFTER. One killed with `kill -9` never says it stopped; its
heartbeat ages and it becomes `dead`.
"""
from __future__ import annotations

from enum import StrEnum

from appliance.models import Agent


class AgentState(StrEnum):
    ALIVE = "alive"
    STOPPED = "stopped"   # stopped cleanly (it said so)
    DEAD = "dead"         # no heartbeat for longer than the grace period


def agent_state(heartbeat_at: float, stopped_at: float | None, now: float,
                dead_after: float) -> AgentState:
    if stopped_at is not None:
        return AgentState.STOPPED
    return AgentState.ALIVE if now - heartbeat_at < dead_after else AgentState.DEAD


def is_alive(agent: Agent, now: float, dead_after: float) -> bool:
    return agent_state(agent.heartbeat_at, agent.stopped_at, now, dead_after) is AgentState.ALIVE


def alive(now: float, dead_after: float):
    """The same rule as a condition on Agent rows, for queries."""
    return Agent.stopped_at.is_null() & (Agent.heartbeat_at > now - dead_after)
