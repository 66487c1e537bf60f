"""The Docker backend's contract case: a real engine and a tiny image made here
(busybox from Debian's busybox-static, imported without any registry)."""
from __future__ import annotations

import io
import shutil
import subprocess
import tarfile

from tests.backend_cases import Case
from tests.conftest import require

IMAGE = "hc-test/busybox:1"
APPLETS = ("sh", "echo", "sleep", "cat", "wget", "true", "false", "id", "ls", "printf")


def docker_reachable() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def build_busybox_image() -> str:
    """Import a one-binary image once; reused while it exists."""
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0:
        return IMAGE
    busybox = shutil.which("busybox")
    if busybox is None:
        require("DOCKER", "busybox-static is not installed (apt-get install busybox-static)")
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        tmp = tarfile.TarInfo("tmp")
        tmp.type, tmp.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(tmp)
    subprocess.run(["docker", "import", "--change", "ENV PATH=/bin", "-", IMAGE],
                   input=layer.getvalue(), check=True, capture_output=True)
    return IMAGE


class DockerCase(Case):
    name = "docker"
    settings = {"poll_interval": 0.2}
    image = IMAGE

    def ensure(self) -> None:
        if not docker_reachable():
            require("DOCKER", "no Docker engine is reachable (install docker.io, start dockerd)")
        build_busybox_image()


