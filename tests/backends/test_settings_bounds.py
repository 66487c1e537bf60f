"""Finding 7: backend settings are finite, bounded and typed; the Docker
backend's "never root" rule parses the user and compares numbers."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.backends import backend_class
from appliance.backends.base import SettingsError
from appliance.backends.docker import container_user

BAD = [("fake", {"run_seconds": float("nan")}), ("fake", {"run_seconds": float("inf")}),
       ("fake", {"queue_seconds": 1e300}), ("fake", {"poll_interval": float("nan")}),
       ("fake", {"exit_code": "x"}), ("fake", {"exit_code": 1.5}), ("fake", {"exit_code": 0}),
       ("fake", {"failure_reason": 7}), ("fake", {"failure_reason": "x" * 10_000}),
       ("fake", {"metrics": [1]}), ("fake", {"metrics": {"a": float("nan")}}),
       ("fake", {"metrics": {f"m{n}": 1 for n in range(1000)}}),
       ("local", {"kill_grace": float("nan")}),
       ("docker", {"memory_mb": 1e18}), ("docker", {"cpus": float("nan")}),
       ("docker", {"poll_interval": float("inf")}), ("slurm", {"poll_interval": 1e12})]


@pytest.mark.parametrize(("backend", "settings"), BAD, ids=[str(s)[:40] for _, s in BAD])
def test_bad_backend_settings_are_refused(backend, settings):
    with pytest.raises(SettingsError):
        backend_class(backend).validate_settings(settings)


@pytest.mark.parametrize("user", ["00", "0000:0", "", "0", "root", "10001:0", "0:10001",
                                  "nobody", " ", ":", "10001:", "-1", "99999999999"])
def test_docker_never_runs_as_root(user):
    with pytest.raises(SettingsError, match="user"):
        backend_class("docker").validate_settings({"user": user})


def test_docker_user_is_stored_as_numbers():
    assert backend_class("docker").validate_settings({"user": "0010001"})["user"] == "10001:10001"
    assert container_user("1000:100") == "1000:100"


@given(st.text(max_size=20))
def test_any_accepted_docker_user_is_not_root(text):
    try:
        user = container_user(text)
    except SettingsError:
        return
    uid, gid = (int(part) for part in user.split(":"))
    assert uid > 0 and gid > 0
