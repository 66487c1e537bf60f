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
    "make_backend",
    "register",
]
