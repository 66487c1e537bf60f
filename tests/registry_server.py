"""A real container registry of our own: Debian's docker-registry (distribution)
on a free 127.0.0.1 port, storage in a temporary folder, optionally with
htpasswd credentials. Docker pushes to 127.0.0.1 without TLS by default."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

from tests.conftest import free_port, require

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
{auth}"""
AUTH = """auth:
  htpasswd:
    realm: hc-test
    path: {root}/htpasswd
"""


class LocalRegistry:
    def __init__(self, user: str | None = None, password: str | None = None):
        self.root = tempfile.mkdtemp(prefix="hc-registry-")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.user, self.password = user, password
        self.process: subprocess.Popen | None = None

    def start(self) -> LocalRegistry:
        auth = ""
        if self.user:
            import bcrypt

            hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=6)).decode()
            with open(os.path.join(self.root, "htpasswd"), "w") as handle:
                handle.write(f"{self.user}:{hashed}\n")
            auth = AUTH.format(root=self.root)
        config = os.path.join(self.root, "config.yml")
        with open(config, "w") as handle:
            handle.write(CONFIG.format(root=self.root, port=self.port, auth=auth))
        with open(os.path.join(self.root, "log"), "wb") as log:
            self.process = subprocess.Popen(["docker-registry", "serve", config], stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1)
                return self
            except urllib.error.HTTPError:  # 401: up, and asking for credentials
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"docker-registry did not answer on {self.address}")

    def auth_file(self) -> str:
        """A config.json with this registry's credentials (what sites are given)."""
        path = os.path.join(self.root, "auth.json")
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        with open(path, "w") as handle:
            json.dump({"auths": {self.address: {"auth": token}}}, handle)
        return path

    def push(self, image: str, name: str) -> str:
        """Tag a local Docker image as REGISTRY/NAME and push it; the registry's digest."""
        target = f"{self.address}/{name}"
        subprocess.run(["docker", "tag", image, target], check=True, capture_output=True)
        environment = None
        if self.user:
            environment = {**os.environ, "DOCKER_CONFIG": self._docker_config()}
        done = subprocess.run(["docker", "push", target], check=True, capture_output=True,
                              text=True, env=environment)
        return re.search(r"digest: (sha256:[0-9a-f]{64})", done.stdout).group(1)

    def push_away(self, image: str, name: str) -> str:
        """Push as REGISTRY/NAME, then drop every local name of that repository:
        the daemon must pull it to run it. The reference by digest."""
        digest = self.push(image, name)
        repository = f"{self.address}/{name.split(':')[0]}"
        subprocess.run(["docker", "rmi", f"{self.address}/{name}", f"{repository}@{digest}"],
                       capture_output=True)
        return f"{repository}@{digest}"

    def _docker_config(self) -> str:
        folder = os.path.join(self.root, "docker-config")
        os.makedirs(folder, exist_ok=True)
        shutil.copy(self.auth_file(), os.path.join(folder, "config.json"))
        return folder

    def stop(self) -> None:
        self._forget_images()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


    def _forget_images(self) -> None:
        """Drop the local names (Docker, podman) of what came from this registry, by
        name: an image that also has another name (the test images) stays."""
        for tool in ("docker", "podman"):
            if not shutil.which(tool):
                continue
            listed = subprocess.run([tool, "images", "--digests", "--format",
                                     "{{.Repository}} {{.Tag}} {{.Digest}}"],
                                    capture_output=True, text=True).stdout.splitlines()
            names = set()
            for line in listed:
                parts = line.split()
                if len(parts) == 3 and parts[0].startswith(self.address + "/"):
                    names.add(f"{parts[0]}:{parts[1]}" if parts[1] != "<none>"
                              else f"{parts[0]}@{parts[2]}")
            for name in sorted(names):
                subprocess.run([tool, "rmi", name], capture_output=True)


def ensure_registry_tools() -> None:
    if not shutil.which("docker-registry"):
        require("REGISTRY", "docker-registry is not installed (apt-get install docker-registry)")


def build_image(tag: str, marker: str) -> str:
    """A tiny image (the busybox test image plus a file saying `marker`), built here."""
    from tests.backends.docker_case import build_busybox_image

    base = build_busybox_image()
    folder = tempfile.mkdtemp(prefix="hc-image-")
    try:
        with open(os.path.join(folder, "Containerfile"), "w") as handle:
            handle.write(f"FROM {base}\nRUN echo {marker} > /marker\n")
        subprocess.run(["docker", "build", "-q", "-t", tag, "-f", "Containerfile", "."],
                       cwd=folder, check=True, capture_output=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return tag
