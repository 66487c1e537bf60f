"""Image references and tag resolution against a real registry (docker-registry)."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance import registry as reg
from tests.conftest import free_port


@pytest.mark.parametrize("text, parts", [
    ("busybox", (None, "busybox", None, None)),
    ("hc-base/python:3.11-bookworm", (None, "hc-base/python", "3.11-bookworm", None)),
    ("127.0.0.1:5000/a/b:v1", ("127.0.0.1:5000", "a/b", "v1", None)),
    ("localhost/x", ("localhost", "x", None, None)),
    ("reg.example/x@sha256:" + "a" * 64, ("reg.example", "x", None, "sha256:" + "a" * 64)),
    ("reg.example:443/x/y:t@sha256:" + "0" * 64,
     ("reg.example:443", "x/y", "t", "sha256:" + "0" * 64)),
])
def test_references_parse(text, parts):
    reference = reg.parse_reference(text)
    assert (reference.registry, reference.repository, reference.tag, reference.digest) == parts
    assert str(reference) == text


@pytest.mark.parametrize("text", ["", "UPPER/case", "a//b", "x:", "x@sha256:12",
                                  "x@md5:" + "a" * 32, "reg:99/x:bad tag", ":tag", "/x",
                                  "a" * 300, "-x"])
def test_bad_references_say_what_is_wrong(text):
    with pytest.raises(reg.BadReference):
        reg.parse_reference(text)


@given(st.text(max_size=80))
def test_any_text_parses_or_is_refused_cleanly(text):
    try:
        reference = reg.parse_reference(text)
    except reg.BadReference:
        return
    assert str(reference) == text
    assert reg.parse_reference(str(reference.pinned("sha256:" + "1" * 64))).digest


def test_local_images_are_left_alone():
    assert reg.pin("hc-base/python:3.11-bookworm") == ("hc-base/python:3.11-bookworm", None)


def test_a_digest_reference_is_kept_without_asking_the_registry():
    digest = "sha256:" + "b" * 64
    port = free_port()  # nothing listens there
    assert reg.pin(f"127.0.0.1:{port}/x:old@{digest}") == (f"127.0.0.1:{port}/x@{digest}", digest)


def test_a_tag_resolves_to_the_pushed_digest(registry, pushed_images):
    pinned, digest = reg.pin(f"{registry.address}/hc-test/payload:v2")
    assert digest == pushed_images["v2"]
    assert pinned == f"{registry.address}/hc-test/payload@{digest}"


def test_a_missing_tag_and_a_dead_registry_are_clear_errors(registry, pushed_images):
    with pytest.raises(reg.RegistryError, match="not found in registry .*manifest unknown"):
        reg.pin(f"{registry.address}/hc-test/payload:nope")
    with pytest.raises(reg.RegistryError, match="not reachable"):
        reg.pin(f"127.0.0.1:{free_port()}/hc-test/payload:v1")


@pytest.mark.slow
def test_credentials_from_a_file_are_used_and_never_shown(pushed_images, tmp_path):
    from tests.registry_server import LocalRegistry

    secret = "s3cret-registry-password"
    server = LocalRegistry("ci", secret).start()
    try:
        digest = server.push("hc-test/payload-registry:v1", "private/payload:v1")
        image = f"{server.address}/private/payload:v1"
        with pytest.raises(reg.RegistryError, match="needs credentials") as refused:
            reg.pin(image)
        wrong = tmp_path / "wrong.json"
        wrong.write_text(json.dumps(
            {"auths": {server.address: {"username": "ci", "password": "nope"}}}))
        with pytest.raises(reg.RegistryError, match="refused the credentials") as bad:
            reg.pin(image, str(wrong))
        assert secret not in str(refused.value) + str(bad.value) and "nope" not in str(bad.value)
        assert reg.pin(image, server.auth_file()) == (
            f"{server.address}/private/payload@{digest}", digest)
    finally:
        server.stop()


def test_a_broken_credentials_file_is_a_clear_error(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text("{not json")
    with pytest.raises(reg.RegistryError, match="not a config.json"):
        reg.load_credentials(str(path))
    with pytest.raises(reg.RegistryError, match="No such file"):
        reg.load_credentials(str(tmp_path / "missing.json"))


def test_credentials_files_as_docker_login_writes_them(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {
        "https://reg.example:5000/v1/": {"auth": "dXNlcjpwYTpzcw=="},
        "other.example": {"username": "u", "password": "p"},
        "helper.example": {}}, "credsStore": "desktop"}))
    assert reg.load_credentials(str(path)) == {"reg.example:5000": ("user", "pa:ss"),
                                               "other.example": ("u", "p")}
