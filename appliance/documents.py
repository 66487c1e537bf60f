"""Validation of what users hand in: template files and site definitions.

Every check raises SpecError with the path of the offending field, so that the
CLI and the web can say exactly what to fix. Nothing is written until a whole
document has passed.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from appliance.backends import SettingsError, backend_class
from appliance.config import parse_duration
from appliance.db import database
from appliance.errors import BadInput
from appliance.knobs import KNOBS, KnobError, check_knob
from appliance.limits import (
    MAX_COMMAND,
    MAX_DESCRIPTION,
    MAX_DOCUMENT_BYTES,
    MAX_ENVIRONMENT,
    MAX_KNOB,
    MAX_MESSAGE,
    MAX_SECONDS,
)
from appliance.models import JobTemplate, Site, Template, TemplateSite
from appliance.registry import BadReference, parse_reference
from appliance.states import Category, SiteStatus

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class SpecError(BadInput):
    """A user document is invalid; the message names the field."""


@dataclass(frozen=True)
class Field:
    check: Callable[[str, Any], Any]
    default: Any = None
    required: bool = False


def check_mapping(path: str, value: Any, fields: dict[str, Field]) -> dict:
    if not isinstance(value, dict):
        raise SpecError(f"{path}: must be a mapping")
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise SpecError(f"{path}.{unknown[0]}: unknown key; known keys: {', '.join(fields)}")
    result = {}
    for name, spec in fields.items():
        if name not in value:
            if spec.required:
                raise SpecError(f"{path}.{name}: required")
            result[name] = spec.default
        else:
            result[name] = spec.check(f"{path}.{name}", value[name])
    return result


def name(path: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise SpecError(f"{path}: {value!r} is not a valid name (letters, digits, . _ -; "
                        "starting with a letter or digit; at most 128)")
    return value


def text(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SpecError(f"{path}: must be text")
    return value


def bounded_text(most: int, encoded: bool = False) -> Callable[[str, Any], str]:
    """Text of at most `most` characters (bytes when `encoded`: what the kernel counts)."""
    def check(path: str, value: Any) -> str:
        value = text(path, value)
        size = len(value.encode()) if encoded else len(value)
        if size > most:
            raise SpecError(f"{path}: at most {most} {'bytes' if encoded else 'characters'} "
                            f"(this has {size})")
        return value
    return check


def optional_text(path: str, value: Any) -> str | None:
    return None if value is None else text(path, value)


def image_reference(path: str, value: Any) -> str | None:
    """[REGISTRY/]NAME[:TAG][@sha256:...]; a tag is resolved when a test is made."""
    if value is None:
        return None
    try:
        parse_reference(value)
    except BadReference as error:
        raise SpecError(f"{path}: {error}") from None
    return value


def flag(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{path}: must be true or false")
    return value


def seconds(path: str, value: Any) -> int:
    try:
        result = parse_duration(str(value)) if not isinstance(value, bool) else -1
    except BadInput as error:
        raise SpecError(f"{path}: {error}") from None
    if result < 1:
        raise SpecError(f"{path}: must be at least 1 second")
    if result > MAX_SECONDS:
        raise SpecError(f"{path}: must be at most {MAX_SECONDS // 86400} days")
    return int(result)


def relative_file(path: str, value: Any) -> str:
    value = text(path, value)
    if not value or value.startswith("/") or ".." in value.split("/"):
        raise SpecError(f"{path}: must be a file name inside the job folder")
    return value


def environment(path: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise SpecError(f"{path}: must be a mapping of variable names to values")
    for key, item in value.items():
        if not isinstance(key, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise SpecError(f"{path}: {key!r} is not a valid variable name")
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            raise SpecError(f"{path}.{key}: must be text or a number")
    values = {k: str(v) for k, v in value.items()}
    if sum(len(k.encode()) + len(v.encode()) + 2 for k, v in values.items()) > MAX_ENVIRONMENT:
        raise SpecError(f"{path}: at most {MAX_ENVIRONMENT} bytes of names and values")
    return values


def category(path: str, value: Any) -> str:
    allowed = [c.value for c in Category]
    if value not in allowed:
        raise SpecError(f"{path}: must be one of {', '.join(allowed)}")
    return value


def site_names(path: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{path}: must be a non-empty list of site names")
    names = [name(f"{path}[{i}]", item) for i, item in enumerate(value)]
    known = {row[0] for row in Site.select(Site.name).where(Site.name.in_(names)).tuples()}
    missing = [n for n in names if n not in known]
    if missing:
        raise SpecError(f"{path}: unknown site {missing[0]!r}; add it with `hc site add`")
    if len(set(names)) != len(names):
        raise SpecError(f"{path}: a site is listed twice")
    return names


JOB_FIELDS = {
    "command": Field(bounded_text(MAX_COMMAND, encoded=True), required=True),
    "image": Field(image_reference),
    "environment": Field(environment, default={}),
    "timeout": Field(seconds, default=3600),
    "metrics_file": Field(relative_file, default="metrics.json"),
    "network": Field(flag, default=False),  # the payload gets a network (container sites)
}
def knob(name: str) -> Callable[[str, Any], Any]:
    def check(path: str, value: Any):
        try:
            return check_knob(name, value)
        except KnobError as error:
            if error.knob.kind is bool:
                raise SpecError(f"{path}: must be true or false") from None
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_KNOB:
                raise SpecError(f"{path}: must be at most {MAX_KNOB}") from None
            raise SpecError(f"{path}: must be a whole number ≥ {error.knob.minimum}") from None
    return check


LOAD_FIELDS = {k.name: Field(knob(k.name), default=k.default) for k in KNOBS}
TEMPLATE_FIELDS = {
    "name": Field(name, required=True),
    "category": Field(category, default=Category.STRESS.value),
    "golden": Field(flag, default=False),
    "description": Field(bounded_text(MAX_DESCRIPTION), default=""),
    "active": Field(flag, default=True),
    "duration": Field(seconds, default=3600),
    "sites": Field(site_names, required=True),
    "load": Field(lambda p, v: check_mapping(p, v, LOAD_FIELDS),
                  default=check_mapping("load", {}, LOAD_FIELDS)),
    "job": Field(lambda p, v: check_mapping(p, v, JOB_FIELDS), required=True),
}


def parse_document(source: str, label: str = "template") -> dict:
    """YAML or JSON text -> a mapping (JSON is YAML too). Bounded: at most
    MAX_DOCUMENT_BYTES, and no aliases (*name), so a few lines cannot expand
    into gigabytes (the "billion laughs"); a template never needs them."""
    if len(source) > MAX_DOCUMENT_BYTES:
        raise SpecError(f"{label}: at most {MAX_DOCUMENT_BYTES // 1024} KiB")
    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(source)):
            raise SpecError(f"{label}: YAML aliases (*name) are not allowed in a document")
        document = yaml.safe_load(source)
    except (yaml.YAMLError, RecursionError) as error:
        raise SpecError(f"{label}: not valid YAML or JSON: "
                        f"{str(error)[:MAX_MESSAGE]}".replace("\n", " ")) from None
    if not isinstance(document, dict):
        raise SpecError(f"{label}: must be a mapping of keys to values")
    return document


def save_template(document: dict, replace: bool = False) -> Template:
    """Validate a template document and store it (with its job template)."""
    spec = check_mapping("template", document, TEMPLATE_FIELDS)
    existing = Template.get_or_none(Template.name == spec["name"])
    if existing and not replace:
        raise SpecError(f"template.name: a template {spec['name']!r} exists; "
                        "use --replace to change it")
    sites = list(Site.select().where(Site.name.in_(spec["sites"])))
    with database.atomic():
        job_values = spec["job"]
        job, _ = JobTemplate.get_or_create(name=spec["name"], defaults=job_values)
        JobTemplate.update(**job_values).where(JobTemplate.id == job.id).execute()
        values = {k: spec[k] for k in ("category", "golden", "description", "active",
                                       "duration")} | spec["load"]
        if existing:
            Template.update(job_template=job, **values).where(
                Template.id == existing.id).execute()
            template = Template.get_by_id(existing.id)
            TemplateSite.delete().where(TemplateSite.template == template.id).execute()
        else:
            template = Template.create(name=spec["name"], job_template=job, **values)
        TemplateSite.insert_many([dict(template=template, site=s) for s in sites]).execute()
    return template


SITE_STATUSES = [s.value for s in SiteStatus]


def check_site(site_name: str, backend: str, settings: Any, cloud: str = "",
               tags: list | None = None) -> dict:
    """Validate a site definition; returns the values to store."""
    name("site.name", site_name)
    if not isinstance(settings, dict):
        raise SpecError("site.settings: must be a mapping")
    try:
        kind = backend_class(backend)
    except SettingsError as error:
        raise SpecError(f"site.backend: {error}") from None
    try:
        normalised = kind.validate_settings(settings)
    except SettingsError as error:
        raise SpecError(f"site.settings: {error}") from None
    tags = tags or []
    for tag in tags:
        name("site.tags", tag)
    if cloud:
        name("site.cloud", cloud)
    return dict(name=site_name, backend=backend, backend_settings=_minimal(settings, normalised),
                cloud=cloud, tags=tags)


def _minimal(given: dict, normalised: dict) -> dict:
    """Store what the user gave (validated), so that new defaults reach old sites."""
    return {k: normalised[k] for k in given}


def parse_setting(assignment: str) -> tuple[str, Any]:
    """'key=value' with value read as JSON when it parses, else as text."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise SpecError(f"{assignment!r}: settings are given as key=value")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw
