"""Backend registry: a name -> "module:Class" table, imported on first use so
that an agent never loads a backend (or its SDK) it does not use."""
from __future__ import annotations

import importlib

from appliance.backends.base import Backend, BackendError, JobSpec, JobStatus, SettingsError

REGISTRY: dict[str, str] = {
    "local": "appliance.backends.local:LocalBackend",
    "fake": "appliance.backends.fake:FakeBackend",
    "docker": "appliance.backends.docker:DockerBackend",
    "slurm": "appliance.backends.slurm:SlurmBackend",
    "arc": "appliance.backends.arc:ArcBackend",
}


def register(name: str, target: str) -> None:
    REGISTRY[name] = target


def backend_class(name: str) -> type[Backend]:
    try:
        module_name, class_name = REGISTRY[name].split(":")
    except KeyError:
        raise SettingsError(
            f"unknown backend {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    return getattr(importlib.import_module(module_name), class_name)


def image_refusal(site) -> str | None:
    """Why `site` (a Site row) cannot run container images, or None when it can (or when
    its settings are broken: its site check says so, and its jobs fail with the reason)."""
    try:
        cls = backend_class(site.backend)
        return cls.image_refusal(cls.validate_settings(site.backend_settings or {}))
    except SettingsError:
        return None


def make_backend(name: str, settings: dict, host: str = "") -> Backend:
    return backend_class(name)(settings or {}, host)


__all__ = [
    "REGISTRY",
    "Backend",
    "BackendError",
    "JobSpec",
    "JobStatus",
    "SettingsError",
    "backend_class",
    "image_refusal",
    "make_backend",
    "register",
]
