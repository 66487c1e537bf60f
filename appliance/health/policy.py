"""The site-health policy: a YAML document, validated with line numbers.

`parse(source)` returns a frozen `Policy` or raises PolicyError naming the line
and the field ("line 12: exclude[1].failed[0].last: must be a whole number ≥ 1").
The loader keeps the line of every key and list item, so errors found after
parsing (a wrong type, an unknown template) still point at the right line.
"""
from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass

import yaml

from appliance.config import parse_duration
from appliance.errors import BadInput

DEFAULT_POLICY_PATH = os.path.join(os.path.dirname(__file__), "default_policy.yaml")
FORMAT = 1
SIGNATURE_FIELDS = ("reason", "exit_code")


class PolicyError(BadInput):
    """The document is not a valid policy; the message names the line."""

    def __init__(self, line: int | None, message: str):
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass(frozen=True)
class Clause:
    """`templates` distinct critical templates whose last `last` jobs all failed."""
    templates: int
    last: int


@dataclass(frozen=True)
class ExcludeRule:
    name: str
    clauses: tuple[Clause, ...]


@dataclass(frozen=True)
class Breaker:
    max_share: float
    min_sites: int
    signature_sites: int
    signature: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    critical_templates: tuple[str, ...] | None  # None: every active functional template
    window: float  # seconds
    settle: float
    interval: float
    min_jobs: int
    guard: float
    exclude: tuple[ExcludeRule, ...]
    include_last: int
    breaker: Breaker

    @property
    def depth(self) -> int:
        """The most jobs per template any rule looks at."""
        lasts = [c.last for r in self.exclude for c in r.clauses]
        return max(lasts + [self.include_last, self.min_jobs])


# -- a YAML loader that remembers lines ---------------------------------------

class _Map(dict):
    line: int = 0
    lines: dict


class _List(list):
    line: int = 0
    lines: list


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader, node) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line, result.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise PolicyError(line, f"keys must be text, not {key!r}")
        if key in result:
            raise PolicyError(line, f"{key!r} is given twice")
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result


def _construct_list(loader, node) -> _List:
    result = _List(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_list)


def load_marked(source: str):
    """YAML text -> mappings and lists that know their lines."""
    try:
        return yaml.load(source, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "not valid YAML"
        raise PolicyError(mark.line + 1 if mark else None, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise PolicyError(None, f"not valid YAML: {error}") from None


# -- validation ----------------------------------------------------------------

TOP_KEYS = ("format", "name", "description", "critical_templates", "window", "settle",
            "interval", "min_jobs", "guard", "exclude", "include", "breaker")
REQUIRED = ("format", "name", "window", "interval", "exclude", "include")


def parse(source: str, known_templates: Collection[str] | None = None) -> Policy:
    """Validate a policy document. With `known_templates` (names of functional
    templates), every critical template must be one of them."""
    document = load_marked(source)
    if not isinstance(document, _Map):
        raise PolicyError(getattr(document, "line", 1), "a policy is a mapping of keys to values")
    _keys(document, "policy", TOP_KEYS, REQUIRED)
    if document["format"] != FORMAT:
        raise PolicyError(document.lines["format"], f"format: must be {FORMAT}")
    line = document.lines.get
    window = _duration(document, "window", minimum=1)
    settle = _duration(document, "settle", default="0", minimum=0)
    if settle >= window:
        raise PolicyError(line("settle"), "settle: must be shorter than the window")
    return Policy(
        name=_name(document, "name"),
        description=_text(document, "description", ""),
        critical_templates=_templates(document, known_templates),
        window=window, settle=settle,
        interval=_duration(document, "interval", minimum=1),
        min_jobs=_whole(document, "min_jobs", 1, default=1),
        guard=_duration(document, "guard", default="0", minimum=0),
        exclude=_exclude_rules(document),
        include_last=_include(document),
        breaker=_breaker(document))


def _keys(mapping: _Map, path: str, known: tuple, required: tuple = ()) -> None:
    for key in mapping:
        if key not in known:
            raise PolicyError(mapping.lines[key], f"{path}.{key}: unknown key; known keys: "
                              + ", ".join(known))
    for key in required:
        if key not in mapping:
            raise PolicyError(mapping.line, f"{path}.{key}: required")


def _where(mapping: _Map, key: str) -> int:
    return mapping.lines.get(key, mapping.line)


def _duration(mapping: _Map, key: str, minimum: float, default: str | None = None) -> float:
    raw = mapping.get(key, default)
    try:
        if isinstance(raw, bool):
            raise BadInput(f"{raw!r} is not a duration")
        seconds = parse_duration(str(raw))
    except BadInput as error:
        raise PolicyError(_where(mapping, key), f"{key}: {error}") from None
    if seconds < minimum:
        raise PolicyError(_where(mapping, key), f"{key}: must be at least {minimum:g} s")
    return seconds


def _whole(mapping: _Map, key: str, lowest: int, default: int | None = None,
           path: str | None = None) -> int:
    value = mapping.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
        raise PolicyError(_where(mapping, key),
                          f"{path or key}: must be a whole number ≥ {lowest}")
    return value


def _text(mapping: _Map, key: str, default: str) -> str:
    value = mapping.get(key, default)
    if not isinstance(value, str):
        raise PolicyError(_where(mapping, key), f"{key}: must be text")
    return value


def _name(mapping: _Map, key: str, path: str | None = None) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > 128:
        raise PolicyError(_where(mapping, key), f"{path or key}: must be a name (1 to 128 "
                          "characters)")
    return value


def _list(mapping: _Map, key: str, path: str) -> _List:
    value = mapping.get(key)
    if not isinstance(value, _List):
        raise PolicyError(_where(mapping, key), f"{path}: must be a list")
    return value


def _templates(document: _Map, known: Collection[str] | None) -> tuple[str, ...] | None:
    value = document.get("critical_templates", "all")
    if value == "all":
        return None
    if not isinstance(value, _List) or not value:
        raise PolicyError(_where(document, "critical_templates"),
                          "critical_templates: must be `all` or a non-empty list of names")
    for index, (item, line) in enumerate(zip(value, value.lines, strict=True)):
        if not isinstance(item, str):
            raise PolicyError(line, f"critical_templates[{index}]: must be a template name")
        if value.index(item) != index:
            raise PolicyError(line, f"critical_templates[{index}]: {item!r} is listed twice")
        if known is not None and item not in known:
            raise PolicyError(line, f"critical_templates[{index}]: no functional template "
                              f"named {item!r}")
    return tuple(value)


def _exclude_rules(document: _Map) -> tuple[ExcludeRule, ...]:
    rules = _list(document, "exclude", "exclude")
    names: set[str] = set()
    result = []
    for index, (item, line) in enumerate(zip(rules, rules.lines, strict=True)):
        path = f"exclude[{index}]"
        if not isinstance(item, _Map):
            raise PolicyError(line, f"{path}: must be a mapping with name and failed")
        _keys(item, path, ("name", "failed"), ("name", "failed"))
        rule_name = _name(item, "name", f"{path}.name")
        if rule_name in names:
            raise PolicyError(_where(item, "name"), f"{path}.name: {rule_name!r} is used twice")
        names.add(rule_name)
        result.append(ExcludeRule(rule_name, _clauses(item, path)))
    return tuple(result)


def _clauses(rule: _Map, path: str) -> tuple[Clause, ...]:
    clauses = _list(rule, "failed", f"{path}.failed")
    if not clauses:
        raise PolicyError(_where(rule, "failed"), f"{path}.failed: needs at least one clause")
    result = []
    for index, (item, line) in enumerate(zip(clauses, clauses.lines, strict=True)):
        where = f"{path}.failed[{index}]"
        if not isinstance(item, _Map):
            raise PolicyError(line, f"{where}: must be a mapping like {{templates: 2, last: 2}}")
        _keys(item, where, ("templates", "last"), ("templates", "last"))
        result.append(Clause(_whole(item, "templates", 1, path=f"{where}.templates"),
                             _whole(item, "last", 1, path=f"{where}.last")))
    return tuple(result)


def _include(document: _Map) -> int:
    include = document["include"]
    if not isinstance(include, _Map):
        raise PolicyError(_where(document, "include"), "include: must be a mapping")
    _keys(include, "include", ("completed_last",), ("completed_last",))
    return _whole(include, "completed_last", 1, path="include.completed_last")


def _breaker(document: _Map) -> Breaker:
    breaker = document.get("breaker", _Map())
    if not isinstance(breaker, _Map):
        raise PolicyError(_where(document, "breaker"), "breaker: must be a mapping")
    breaker.lines = getattr(breaker, "lines", {})
    breaker.line = breaker.line or _where(document, "breaker")
    _keys(breaker, "breaker", ("max_share", "min_sites", "signature_sites", "signature"))
    share = breaker.get("max_share", 0.30)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise PolicyError(_where(breaker, "max_share"),
                          "breaker.max_share: must be a fraction above 0 and at most 1")
    fields = breaker.get("signature", _List(SIGNATURE_FIELDS))
    if not isinstance(fields, list) or any(f not in SIGNATURE_FIELDS for f in fields):
        raise PolicyError(_where(breaker, "signature"), "breaker.signature: must be a list of "
                          + " and ".join(SIGNATURE_FIELDS) + " (or empty)")
    return Breaker(
        max_share=float(share),
        min_sites=_whole(breaker, "min_sites", 1, default=2, path="breaker.min_sites"),
        signature_sites=_whole(breaker, "signature_sites", 2, default=3,
                               path="breaker.signature_sites"),
        signature=tuple(fields))


def default_source() -> str:
    with open(DEFAULT_POLICY_PATH) as handle:
        return handle.read()


def read_file(path: str) -> str:
    """The text of a policy file ('-': stdin), or a PolicyError saying why not."""
    import sys
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path) as handle:
            return handle.read()
    except OSError as error:
        raise PolicyError(None, f"{path}: {error.strerror}") from None
