"""An agent started with the web's secrets in its environment (a supervisor, a compose
file or a shell that exports everything) drops them at once: its /proc/PID/environ, which
a payload might read, holds none of them."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.integration.harness import FAST, wait_for

SECRETS = {"HC_SECRET_KEY": "k3y-that-must-not-leak-0123456789abcdef0123456789",
           "HC_ADMIN_PASSWORD": "admin-password-that-must-not-leak",
           "HC_OIDC_CLIENT_SECRET": "oidc-client-secret-that-must-not-leak"}


@pytest.mark.parametrize("role", ["server", "submit"])
def test_an_agent_holds_none_of_the_web_s_secrets(tmp_path, role):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    environ.update(FAST, HC_DATA_DIR=str(tmp_path), HC_HOSTNAME="secrets-host")
    environ.update(SECRETS)
    process = subprocess.Popen([sys.executable, "-m", "appliance", role], env=environ,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def settled() -> bytes | None:
            with open(f"/proc/{process.pid}/environ", "rb") as handle:
                text = handle.read()
            return text if b"HC_DATA_DIR" in text and b"SECRET" not in text else None

        # It starts again without them (same pid); then look once more, a moment later.
        wait_for(settled, 20, what="the agent without the secrets")
        time.sleep(0.5)
        with open(f"/proc/{process.pid}/environ", "rb") as handle:
            text = handle.read()
        assert process.poll() is None, process.stderr.read().decode()
        for name, value in SECRETS.items():
            assert name.encode() not in text and value.encode() not in text, name
    finally:
        process.terminate()
        process.wait(timeout=20)
