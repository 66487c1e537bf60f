"""The dumb runner around an agent's `loop_once(now)`.

It sleeps on an Event so a stop signal wakes it at once, logs whatever escapes
an iteration and carries on, writes the heartbeat from its own thread (so a slow
iteration does not make a live agent look dead), and always runs teardown.
Signal handlers only set flags: the first SIGTERM/SIGINT finishes the current
iteration and stops; a second one stops at once.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time

import peewee

from appliance import __version__
from appliance.db import database, with_reconnect
from appliance.models import Agent

log = logging.getLogger(__name__)
# s: an iteration running longer than this has hung; its heartbeat stops.
STALL_LIMIT = 600.0


class Heartbeat:
    """This process's row in the agent table: (role, host) is its identity."""

    def __init__(self, role: str, host: str, interval: float):
        self.role, self.host, self.interval = role, host, interval
        self.last_beat = 0.0

    def start(self, now: float) -> None:
        values = dict(pid=os.getpid(), version=__version__, started_at=now, heartbeat_at=now,
                      stopped_at=None, load=0)
        with database.atomic():
            updated = (Agent.update(**values)
                       .where(Agent.role == self.role, Agent.host == self.host).execute())
            if not updated:
                try:
                    with database.atomic():
                        Agent.create(role=self.role, host=self.host, **values)
                except peewee.IntegrityError:  # created meanwhile by a twin: take it over
                    Agent.update(**values).where(Agent.role == self.role,
                                                 Agent.host == self.host).execute()
        self.last_beat = now

    def beat(self, now: float, load: int, force: bool = False, problem: str | None = None
             ) -> None:
        if not force and now - self.last_beat < self.interval:
            return
        (Agent.update(heartbeat_at=now, load=load, pid=os.getpid(), stopped_at=None,
                      problem=problem)
         .where(Agent.role == self.role, Agent.host == self.host).execute())
        self.last_beat = now

    def stop(self, now: float) -> None:
        (Agent.update(stopped_at=now)
         .where(Agent.role == self.role, Agent.host == self.host, Agent.pid == os.getpid())
         .execute())


class Runner:
    """Runs `agent.loop_once(now)` until stopped.

    The agent provides: `role`, `heartbeat` (a Heartbeat), `loop_once(now) -> float`
    returning seconds to wait before the next iteration, `load()`, and `teardown()`.
    """

    def __init__(self, agent, clock=time.time):
        self.agent = agent
        self.clock = clock
        self.stopping = threading.Event()
        self._signals = 0

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        # Only set flags here: the loop notices at its next step.
        self._signals += 1
        self.stopping.set()
        if self._signals > 1:
            raise SystemExit(1)

    def run(self) -> None:
        agent = self.agent
        with_reconnect(lambda: agent.heartbeat.start(self.clock()))
        log.info("%s agent on %s started (pid %d)", agent.role, agent.heartbeat.host, os.getpid())
        beating = threading.Thread(target=self._beat_while_running, name="heartbeat",
                                   daemon=True)
        beating.start()
        try:
            while not self.stopping.is_set():
                wait = self._iterate()
                self.stopping.wait(wait)
        finally:
            self.stopping.set()
            beating.join(timeout=10)
            self._teardown()

    def _iterate(self) -> float:
        agent = self.agent
        self._iteration_started = time.monotonic()
        try:
            return with_reconnect(lambda: agent.loop_once(self.clock()))
        except Exception:
            log.exception("%s agent iteration failed; retrying", agent.role)
            return 2.0
        finally:
            self._iteration_started = None

    _iteration_started: float | None = None

    def _beat_while_running(self) -> None:
        """The heartbeat, in its own thread (and database connection): it says the agent
        is alive even while one iteration waits on a slow backend. An iteration stuck
        for longer than STALL_LIMIT stops it, so a wedged agent is taken over."""
        agent, beat = self.agent, self.agent.heartbeat
        while not self.stopping.wait(beat.interval):
            started = self._iteration_started
            if started is not None and time.monotonic() - started > STALL_LIMIT:
                log.error("%s agent: one iteration has run for %.0f s; heartbeat withheld",
                          agent.role, time.monotonic() - started)
                continue
            try:
                beat.beat(self.clock(), agent.load(), force=True,
                          problem=getattr(agent, "problem", None))
            except Exception as error:  # the database is away: say so, keep trying
                log.warning("%s agent: heartbeat not written: %s", agent.role,
                            str(error).strip()[:300])
                with contextlib.suppress(Exception):
                    database.close()
        with contextlib.suppress(Exception):
            database.close()

    def _teardown(self) -> None:
        agent = self.agent
        try:
            agent.teardown()
            agent.heartbeat.stop(self.clock())
        except Exception:
            log.exception("%s agent teardown failed", agent.role)
        finally:
            database.close()
        log.info("%s agent stopped", agent.role)
