"""A throwaway all-in-one instance in local processes: a temporary data dir with
SQLite, and the server and submit agents as child processes. For `hc run` where
no container instance is wanted or possible."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile

from appliance.db import database, open_database, upgrade

AGENT_SETTINGS = {"HC_SERVER_INTERVAL": "0.5", "HC_SUBMIT_INTERVAL": "0.2",
                  "HC_HEARTBEAT_INTERVAL": "1", "HC_AGENT_DEAD_AFTER": "10",
                  "HC_SUMMARY_INTERVAL": "2", "HC_LOG_LEVEL": "warning"}

# The caller's settings the agents get too: registry credentials for the pulls.
PASSED_ON = ("HC_REGISTRY_AUTH_FILE",)


class LocalInstance:
    """Context manager: starts on enter, stops and removes everything on exit."""

    def __init__(self, keep: bool = False):
        self.keep = keep
        self.root = tempfile.mkdtemp(prefix="hc-run-")
        self.environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")
                        or k in PASSED_ON}
        self.environ.update(AGENT_SETTINGS, HC_DATA_DIR=self.root, HC_HOSTNAME="hc-run")
        self.database_url = f"sqlite:///{self.root}/hc.sqlite"
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> LocalInstance:
        open_database(self.database_url)
        upgrade()
        log = open(os.path.join(self.root, "agents.log"), "ab")  # noqa: SIM115
        for role in ("server", "submit"):
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "appliance", role], env=self.environ, stdout=log,
                stderr=subprocess.STDOUT))
        log.close()
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        database.close()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def agents_alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)
