"""Run the appliance's real processes for integration tests: agents and the CLI."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

FAST = {  # short intervals so that tests take seconds
    "HC_SERVER_INTERVAL": "0.3", "HC_SUBMIT_INTERVAL": "0.2", "HC_HEARTBEAT_INTERVAL": "0.5",
    "HC_AGENT_DEAD_AFTER": "3", "HC_SUMMARY_INTERVAL": "1", "HC_POLL_INTERVAL": "0.3",
    "HC_LOG_LEVEL": "info",
}


class Appliance:
    """An appliance instance: one data dir, one database, agents as child processes."""

    def __init__(self, data_dir: str, database_url: str | None = None):
        self.data_dir = data_dir
        self.environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")
                        or k.startswith("HC_REQUIRE_")}
        self.environ.update(FAST, HC_DATA_DIR=data_dir)
        if database_url:
            self.environ["HC_DATABASE_URL"] = database_url
        self.processes: dict[str, subprocess.Popen] = {}
        self.work_dir = os.path.join(data_dir, "work")
        os.makedirs(data_dir, exist_ok=True)

    def hc(self, *argv: str, check: bool = True, stdin: str | None = None):
        result = subprocess.run([sys.executable, "-m", "appliance", *argv], env=self.environ,
                                capture_output=True, text=True, input=stdin, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"hc {' '.join(argv)} failed: {result.stderr}")
        return result

    def start(self, name: str, role: str, host: str | None = None) -> subprocess.Popen:
        environ = dict(self.environ, HC_HOSTNAME=host or name)
        log = open(os.path.join(self.data_dir, f"{name}.log"), "ab")  # noqa: SIM115
        process = subprocess.Popen([sys.executable, "-m", "appliance", role], env=environ,
                                   stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes[name] = process
        return process

    def kill(self, name: str, signum: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        process.send_signal(signum)
        process.wait(timeout=20)

    def stop_all(self) -> dict[str, int]:
        codes = {}
        for process in list(self.processes.values()):
            process.send_signal(signal.SIGTERM)
        for name, process in list(self.processes.items()):
            try:
                codes[name] = process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        self.processes.clear()
        return codes

    def logs(self) -> str:
        text = []
        for name in sorted(os.listdir(self.data_dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.data_dir, name), errors="replace") as handle:
                    text.append(f"--- {name}\n{handle.read()[-4000:]}")
        return "\n".join(text)


def wait_for(predicate, timeout: float, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextlib.contextmanager
def running_appliance(data_dir: str, **environ: str):
    """A migrated appliance whose database the test reads too; agents stopped after."""
    from appliance.db import database, open_database

    instance = Appliance(data_dir)
    instance.environ.update(environ)
    instance.hc("db", "upgrade")
    open_database(f"sqlite:///{data_dir}/hc.sqlite")
    try:
        yield instance
    finally:
        instance.stop_all()
        database.close()
        database.initialize(None)
