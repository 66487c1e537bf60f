"""Fault injection: small volumes that fill up or turn read-only, and a TCP proxy
between an agent and PostgreSQL that the test cuts and restores."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time

import pytest

from tests.conftest import require


@pytest.fixture
def small_volume(tmp_path):
    """A 4 MiB tmpfs at tmp_path/volume (root only): a work area that can fill up."""
    if os.geteuid() != 0:
        require("MOUNT", "mounting a tmpfs needs root")
    path = tmp_path / "volume"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)], check=True)
    try:
        yield str(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: str, mode: str, within: float = 15.0) -> None:
    """Remount the volume; read-only waits while a payload that just ran still
    holds its output open for writing (the kernel says "busy" until it exits,
    which on a loaded machine can take seconds)."""
    deadline = time.monotonic() + within
    while True:
        done = subprocess.run(["mount", "-o", f"remount,{mode}", path],
                              capture_output=True, text=True)
        if done.returncode == 0:
            return
        if "busy" not in done.stderr or time.monotonic() > deadline:
            raise AssertionError(f"remount {mode} of {path}: {done.stderr.strip()}")
        time.sleep(0.1)


def fill(path: str, leave: int = 0) -> None:
    """Fill the volume at `path` up to `leave` free bytes."""
    stat = os.statvfs(path)
    size = stat.f_bavail * stat.f_frsize - leave
    with contextlib.suppress(OSError), open(os.path.join(path, "filler"), "wb") as handle:
        while size > 0:
            chunk = min(size, 1 << 20)
            handle.write(b"\0" * chunk)
            size -= chunk


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every connection and
    refuses new ones until `restore()`."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        self.open = False
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets = []

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()
