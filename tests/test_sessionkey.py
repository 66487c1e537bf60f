"""Finding 1: no built-in session key. Every entry point that serves the web
refuses a missing, short, known or predictable key outside development."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance import sessionkey, startup
from appliance.web import create_app

WEAK_KEYS = ["", "development-only", "a" * 16, "a" * 64, "changeme",
             "0123456789abcdef" * 4, "abcabcabcabcabcabcabcabcabcabcabcabcabc",
             secrets.token_hex(8), "ci-secret-key-0123456789abcdef"]


@pytest.mark.parametrize("key", WEAK_KEYS)
def test_web_app_refuses_weak_key_outside_development(db, settings, key):
    with pytest.raises(sessionkey.KeyRefused, match="HC_SECRET_KEY.*token_hex\\(32\\)"):
        create_app(settings.replace(dev=False, secret_key=key))


@pytest.mark.parametrize("key", WEAK_KEYS)
def test_bootstrap_refuses_weak_key(settings, key):
    with pytest.raises(startup.StartupError, match="HC_SECRET_KEY"):
        startup.check_secrets(settings.replace(dev=False, role="web", secret_key=key), {})


def test_agents_need_no_key(settings):
    for role in ("server", "submit"):
        startup.check_secrets(settings.replace(dev=False, role=role, secret_key=""), {})


def test_strong_key_signs_sessions(db, settings):
    key = secrets.token_hex(32)
    assert create_app(settings.replace(dev=False, secret_key=key)).config["SECRET_KEY"] == key


def test_keys_made_as_the_message_says_are_always_accepted():
    for _ in range(2000):
        assert sessionkey.problem(secrets.token_hex(32)) is None
        assert sessionkey.problem(secrets.token_urlsafe(32)) is None


@given(st.text(max_size=sessionkey.MIN_LENGTH - 1))
def test_short_keys_are_always_refused(key):
    assert sessionkey.problem(key) is not None


@pytest.mark.parametrize("command", ["web", "all"])
def test_cli_web_entry_points_refuse_to_start(tmp_path, command):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    environ.update(HC_DEV="0", HC_DATA_DIR=str(tmp_path), HC_SECRET_KEY="x" * 16)
    result = subprocess.run([sys.executable, "-m", "appliance", command], env=environ,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "HC_SECRET_KEY is too short" in result.stderr and "token_hex(32)" in result.stderr
    assert not (tmp_path / "hc.sqlite").exists(), "nothing started, nothing created"
