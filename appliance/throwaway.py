"""Throwaway appliance instances in containers, for CI and for `hc run`.

`ThrowawayInstance` starts the all-in-one image with a fresh named volume,
waits until its health check passes, and removes container and volume on exit.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import time

from appliance.ci.local_instance import AGENT_SETTINGS

DEFAULT_IMAGE = "hc-appliance:latest"
LABEL = "org.hc-appliance.throwaway"


class InstanceError(RuntimeError):
    """The instance could not be started or did not become healthy."""


class ThrowawayInstance:
    def __init__(self, image: str = DEFAULT_IMAGE, name: str | None = None,
                 environment: dict | None = None, healthy_within: float = 60.0,
                 docker_socket: bool = False):
        import docker  # only where containers are used

        self.client = docker.from_env()
        self.image = image
        self.name = name or f"hc-throwaway-{secrets.token_hex(4)}"
        self.admin_password = secrets.token_urlsafe(12)
        # A throwaway instance serves one short run: its agents react within a second
        # (the production defaults of 5 s would eat most of a 10-second test).
        self.environment = {"HC_ROLE": "all", "HC_DEV": "1", "HC_ADMIN_USER": "admin",
                            "HC_ADMIN_PASSWORD": self.admin_password,
                            "HC_SECRET_KEY": secrets.token_hex(32), **AGENT_SETTINGS,
                            "HC_LOG_LEVEL": "info", **(environment or {})}
        self.healthy_within = healthy_within
        # Docker sites inside the instance start sibling containers through the socket.
        self.docker_socket = docker_socket
        self.container = None
        self.url = ""
        self.seconds_to_healthy = None

    def __enter__(self) -> ThrowawayInstance:
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self) -> None:
        import docker.errors

        started = time.monotonic()
        volumes = {self.name: {"bind": "/data", "mode": "rw"}}
        extra = {}
        if self.docker_socket:
            socket = "/var/run/docker.sock"
            volumes[socket] = {"bind": socket, "mode": "rw"}
            extra["group_add"] = [str(os.stat(socket).st_gid)]
        try:
            self.client.volumes.create(self.name, labels={LABEL: "1"})
            self.container = self.client.containers.run(
                self.image, name=self.name, detach=True, environment=self.environment,
                labels={LABEL: "1"}, volumes=volumes, ports={"8000/tcp": ("127.0.0.1", None)},
                **extra)
        except docker.errors.DockerException as error:
            self.down()
            raise InstanceError(f"cannot start {self.image}: {error}") from error
        self._wait_healthy(started)
        port = self.container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
        self.url = f"http://127.0.0.1:{port}"

    def _wait_healthy(self, started: float) -> None:
        deadline = started + self.healthy_within
        while time.monotonic() < deadline:
            self.container.reload()
            state = self.container.attrs["State"]
            if state.get("Health", {}).get("Status") == "healthy":
                self.seconds_to_healthy = time.monotonic() - started
                return
            if state["Status"] == "exited":
                break
            time.sleep(0.25)
        logs = self.container.logs(tail=30).decode(errors="replace")
        self.down()
        raise InstanceError(f"instance {self.name} did not become healthy within "
                            f"{self.healthy_within:.0f} s:\n{logs}")

    def exec(self, *argv: str, stdin: str | None = None) -> tuple[int, str]:
        """Run a command in the instance (as its non-root user); (exit code, output)."""
        if stdin is None:
            result = self.container.exec_run(list(argv))
            return result.exit_code, result.output.decode(errors="replace")
        import subprocess
        done = subprocess.run(["docker", "exec", "-i", self.name, *argv], input=stdin,
                              capture_output=True, text=True)
        return done.returncode, done.stdout + done.stderr

    def down(self) -> None:
        import docker.errors

        for remove in (lambda: self.client.containers.get(self.name).remove(force=True, v=True),
                       lambda: self.client.volumes.get(self.name).remove(force=True)):
            with contextlib.suppress(docker.errors.NotFound):
                remove()
