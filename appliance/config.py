"""Settings: a pure function of an environment mapping.

Every variable starts with HC_. `SETTINGS` is the one table of names, defaults
and units; the README repeats it. `load(environ)` validates everything once and
raises ConfigError naming the variable and how to fix it.
"""
from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from appliance.errors import BadInput

ROLES = ("all", "web", "server", "submit")
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(BadInput):
    """A setting has a value the appliance cannot use."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(text: str) -> float:
    """'5' -> 5.0, '250ms' -> 0.25, '2m' -> 120.0, '1h' -> 3600.0."""
    match = _DURATION.match(str(text))
    if not match:
        raise BadInput(f"{text!r} is not a duration: give seconds like 5, or 250ms, 5s, 2m, 1h")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


MAX_PROXY_HOPS = 5  # more proxies than this in front of one web is a configuration mistake
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)
_UNIT_BYTES = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """'4096' -> 4096, '256M' -> 268435456, '1G' / '1GiB' -> 1073741824 (binary units)."""
    match = _SIZE.match(str(text))
    if not match:
        raise BadInput(f"{text!r} is not a size: give bytes like 4096, or 500M, 2G")
    return int(match.group(1)) * _UNIT_BYTES[match.group(2).upper()]


def _positive_duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise BadInput(f"{text!r} must be more than zero")
    return seconds


def _positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise BadInput(f"{text!r} is not a whole number") from None
    if number < 1:
        raise BadInput(f"{text!r} must be 1 or more")
    return number


def _proxy_hops(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise BadInput(f"{text!r} is not a whole number of proxies") from None
    if not 0 <= number <= MAX_PROXY_HOPS:
        raise BadInput(f"{text!r} must be from 0 to {MAX_PROXY_HOPS}")
    return number


def _percent(text: str) -> float:
    try:
        number = float(str(text).strip().rstrip("%"))
    except ValueError:
        raise BadInput(f"{text!r} is not a percentage: give a number from 0 to 100") from None
    if not 0 <= number <= 100:
        raise BadInput(f"{text!r} must be from 0 to 100")
    return number


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise BadInput(f"{text!r} is not one of: {', '.join(allowed)}")
        return text
    return parse


def _text(text: str) -> str:
    return text


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise BadInput(f"{text!r} is not a yes/no value: use 1 or 0")


@dataclass(frozen=True)
class Setting:
    field: str
    default: str | None  # None: derived from other settings, see Config.derive
    unit: str
    help: str
    parse: Callable[[str], object]

    @property
    def env_name(self) -> str:
        return "HC_" + self.field.upper()


SETTINGS = (
    Setting("role", "all", "name", "which programs run: " + ", ".join(ROLES), _choice(*ROLES)),
    Setting("data_dir", "./hc-data", "path", "SQLite database and default work area", _text),
    Setting("work_dir", None, "path", "per-test work areas; default DATA_DIR/work", _text),
    Setting("secrets_dir", None, "path",
            "credentials' key material (0600 files); default DATA_DIR/secrets; in a role "
            "split a volume the server mounts read-write and submit nodes read-only", _text),
    Setting("database_url", None, "URL",
            "sqlite:///PATH or postgresql://USER:PASS@HOST:PORT/DB; default SQLite in DATA_DIR",
            _text),
    Setting("hostname", None, "name", "this node's name among agents; default the host name",
            _text),
    Setting("log_level", "info", "name", "one of " + ", ".join(LOG_LEVELS), _choice(*LOG_LEVELS)),
    Setting("heartbeat_interval", "5", "s", "how often an agent writes its heartbeat",
            _positive_duration),
    Setting("agent_dead_after", "30", "s", "heartbeat age after which an agent counts as dead",
            _positive_duration),
    Setting("server_interval", "5", "s", "server agent: scheduling, assignment, failover",
            _positive_duration),
    Setting("summary_interval", "10", "s", "server agent: refresh of test summaries",
            _positive_duration),
    Setting("submit_interval", "1", "s", "submit agent: pause between iterations when idle",
            _positive_duration),
    Setting("poll_interval", "0", "s", "override every backend's own poll interval; 0 = keep",
            parse_duration),
    Setting("site_check_interval", "300", "s",
            "submit agent: how often each site's backend is checked (hc site check)",
            _positive_duration),
    Setting("submit_batch", "500", "jobs", "most jobs one site gets per submit iteration",
            _positive_int),
    Setting("work_min_free", "256M", "bytes",
            "submit agent: below this much free space on the work volume it creates no jobs "
            "(it keeps tracking the running ones); K, M, G suffixes", parse_size),
    Setting("backend_timeout", None, "s",
            "longest a backend command (sbatch, squeue, ...) may take; at most half of "
            "HC_AGENT_DEAD_AFTER; default half of it, between 5 and 10",
            _positive_duration),
    Setting("retain_job_rows", "30d", "s",
            "job rows of a finished test are removed this long after it finished (its summary, "
            "plots and daily rollups stay for ever); 0 = keep for ever", parse_duration),
    Setting("retain_work_areas", "7d", "s",
            "a finished test's work area is packed into one archive this long after it "
            "finished; 0 = never", parse_duration),
    Setting("retain_archives", "90d", "s",
            "a work-area archive is removed this long after it was packed; 0 = keep for ever",
            parse_duration),
    Setting("retain_test_logs", "180d", "s",
            "a finished test's log lines are removed this long after it finished; 0 = keep "
            "for ever", parse_duration),
    Setting("retention_interval", "10m", "s", "server agent: how often retention runs",
            _positive_duration),
    Setting("retention_batch", "200", "rows",
            "most rows one retention transaction removes (short locks; on PostgreSQL, "
            "batches autovacuum keeps up with)", _positive_int),
    Setting("disk_warn_free", "10", "%",
            "warn on the index and in hc status when the work or database volume has less "
            "free space than this", _percent),
    Setting("db_wait", "60", "s", "how long to wait for the database at start",
            _positive_duration),
    Setting("web_bind", "127.0.0.1:8000", "host:port", "address of the web UI", _text),
    Setting("web_workers", "2", "processes", "gunicorn workers of the web UI", _positive_int),
    Setting("web_proxies", "0", "proxies",
            "web: reverse proxies in front of the web (compose.prod.yaml has one); their "
            "X-Forwarded-For/-Proto/-Host are trusted that many hops deep, so the login limit "
            "sees the client's address; 0 = none (never set it when clients reach the web "
            "directly: they could forge their address)", _proxy_hops),
    Setting("web_require_login", "0", "0/1", "web: reading needs a login too (writing always does)",
            _flag),
    Setting("web_secure_cookies", None, "0/1",
            "web: session cookie only over HTTPS; default on unless HC_DEV=1", _flag),
    Setting("secret_key", "", "text", "signs web sessions; required outside development",
            _text),
    Setting("payload_user", "", "user",
            "local backend: payloads run as this user, or job N as uid first+N of a range "
            "first-last (needs root or CAP_SETUID); empty = the agent's own user", _text),
    Setting("dev", "1", "0/1", "development mode: allows default secrets", _flag),
    Setting("registry_auth_file", None, "path",
            "container registry credentials (a Docker config.json) for resolving tags at test "
            "creation and for pulls of sites without their own", _text),
    Setting("web_local_login", "1", "0/1",
            "web: log in with a local name and password; 0 = single sign-on only", _flag),
    Setting("web_public_url", "", "URL",
            "web: the address browsers use (https://hc.example.org behind a proxy), for the "
            "single sign-on redirect URIs; empty = the address each request came to", _text),
    Setting("oidc_issuer", "", "URL",
            "single sign-on: the OpenID Provider's issuer (discovery at "
            "ISSUER/.well-known/openid-configuration); empty = no single sign-on", _text),
    Setting("oidc_client_id", "", "text", "single sign-on: this appliance's client id", _text),
    Setting("oidc_client_secret", "", "text",
            "single sign-on: the client secret; empty = a public client (PKCE only)", _text),
    Setting("oidc_scopes", "openid profile email", "words",
            "single sign-on: scopes asked for (openid is required)", _text),
    Setting("oidc_username_claim", "preferred_username", "name",
            "single sign-on: the claim that names the user", _text),
    Setting("oidc_groups_claim", "groups", "name",
            "single sign-on: the claim that lists the user's groups", _text),
    Setting("oidc_admin_groups", "", "list",
            "single sign-on: comma-separated groups whose members are admins (checked at every "
            "login)", _text),
)
SETTINGS_BY_FIELD = {s.field: s for s in SETTINGS}


@dataclass(frozen=True)
class Config:
    role: str
    data_dir: str
    work_dir: str
    secrets_dir: str
    database_url: str
    hostname: str
    log_level: str
    heartbeat_interval: float
    agent_dead_after: float
    server_interval: float
    summary_interval: float
    submit_interval: float
    poll_interval: float
    site_check_interval: float
    submit_batch: int
    work_min_free: int
    backend_timeout: float
    retain_job_rows: float
    retain_work_areas: float
    retain_archives: float
    retain_test_logs: float
    retention_interval: float
    retention_batch: int
    disk_warn_free: float
    db_wait: float
    web_bind: str
    web_workers: int
    web_proxies: int
    web_require_login: bool
    web_secure_cookies: bool
    secret_key: str
    payload_user: str
    dev: bool
    registry_auth_file: str | None
    web_local_login: bool
    web_public_url: str
    oidc_issuer: str
    oidc_client_id: str
    oidc_client_secret: str
    oidc_scopes: str
    oidc_username_claim: str
    oidc_groups_claim: str
    oidc_admin_groups: str

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    @property
    def oidc_admin_group_set(self) -> frozenset[str]:
        return frozenset(g.strip() for g in self.oidc_admin_groups.split(",") if g.strip())

    def replace(self, **changes) -> Config:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Config(**values)


def load(environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate every HC_ setting; raise ConfigError on the first bad one."""
    environ = os.environ if environ is None else environ
    _refuse_unknown(environ)
    values = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env_name, setting.default)
        if raw is None:
            values[setting.field] = None
            continue
        try:
            values[setting.field] = setting.parse(raw)
        except BadInput as error:
            raise ConfigError(f"{setting.env_name}: {error} ({setting.help})") from None
    return Config(**_derive(values))


def _derive(values: dict) -> dict:
    data_dir = os.path.abspath(values["data_dir"])
    values["data_dir"] = data_dir
    values["work_dir"] = os.path.abspath(values["work_dir"] or os.path.join(data_dir, "work"))
    values["secrets_dir"] = os.path.abspath(values["secrets_dir"]
                                            or os.path.join(data_dir, "secrets"))
    values["database_url"] = values["database_url"] or "sqlite:///" + os.path.join(
        data_dir, "hc.sqlite")
    values["hostname"] = values["hostname"] or socket.gethostname()
    if values["web_secure_cookies"] is None:
        values["web_secure_cookies"] = not values["dev"]
    if values["agent_dead_after"] <= values["heartbeat_interval"]:
        raise ConfigError(
            "HC_AGENT_DEAD_AFTER must be longer than HC_HEARTBEAT_INTERVAL, or live agents "
            "would be taken for dead (a few heartbeats, e.g. 6x, is usual)")
    if values["backend_timeout"] is None:
        # Never under 5 s (batch commands on a busy host), whatever a test sets the
        # grace to: the heartbeat has its own thread, a slow call does not stop it.
        values["backend_timeout"] = min(10.0, max(5.0, values["agent_dead_after"] / 2))
    elif values["backend_timeout"] > values["agent_dead_after"] / 2:
        raise ConfigError(
            "HC_BACKEND_TIMEOUT must be well below HC_AGENT_DEAD_AFTER (at most half), or one "
            "hanging batch command would make a live agent look dead")
    if not values["database_url"].startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError("HC_DATABASE_URL: must start with sqlite:/// or postgresql://")
    _check_oidc(values)
    return values


def _check_oidc(values: dict) -> None:
    """Single sign-on settings hang together, and nobody is locked out by them."""
    public = values["web_public_url"] = values["web_public_url"].strip().rstrip("/")
    if public and (urlsplit(public).scheme not in ("http", "https") or not urlsplit(public).netloc
                   or urlsplit(public).query or urlsplit(public).fragment):
        raise ConfigError("HC_WEB_PUBLIC_URL: give the address browsers use, like "
                          "https://hc.example.org")
    issuer = values["oidc_issuer"] = values["oidc_issuer"].strip().rstrip("/")
    if not issuer:
        if not values["web_local_login"]:
            raise ConfigError("HC_WEB_LOCAL_LOGIN=0 needs single sign-on (HC_OIDC_ISSUER): "
                              "otherwise nobody can log in to the web UI")
        return
    parsed = urlsplit(issuer)
    loopback = parsed.hostname in ("127.0.0.1", "::1", "localhost")
    if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
        raise ConfigError("HC_OIDC_ISSUER: give the provider's https:// URL (plain http only "
                          "for a provider on 127.0.0.1)")
    if not values["oidc_client_id"]:
        raise ConfigError("HC_OIDC_CLIENT_ID: required with HC_OIDC_ISSUER (the client id the "
                          "provider registered for this appliance)")
    if "openid" not in values["oidc_scopes"].split():
        raise ConfigError("HC_OIDC_SCOPES: must include openid (e.g. 'openid profile email')")
    for name in ("oidc_username_claim", "oidc_groups_claim"):
        if not values[name].strip():
            raise ConfigError(f"HC_{name.upper()}: give the name of a claim")


# Variables the appliance reads that are not settings of the agents (tests, images, payloads).
# HC_REQUIRE_<resource> flags of the tests (one per resource CI provides) are all known.
_TEST_FLAG_PREFIX = "HC_REQUIRE_"
_OTHER_KNOWN = {"HC_METRICS_FILE", "HC_JOB_DIR", "HC_ADMIN_USER", "HC_ADMIN_PASSWORD",
                "HC_DEMO", "HC_URL", "HC_TOKEN", "HC_TEST_ID", "HC_SITE", "HC_JOB_ID",
                # compose and image builds (compose.prod.yaml, .env.example)
                "HC_BASE_IMAGE", "HC_PIP_INDEX_URL", "HC_PIP_EXTRA_INDEX_URL", "HC_IMAGE_TAG",
                "HC_PORT", "HC_BIND_ADDRESS",
                "HC_POSTGRES_IMAGE", "HC_SUBMIT_REPLICAS", "HC_INSTANCE"}


def _refuse_unknown(environ: Mapping[str, str]) -> None:
    """A misspelt variable silently does nothing; say so instead."""
    known = {s.env_name for s in SETTINGS} | _OTHER_KNOWN
    for name in environ:
        if name.startswith("HC_") and name not in known \
                and not name.startswith(_TEST_FLAG_PREFIX):
            close = [k for k in sorted(known) if _similar(name, k)]
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{name}: unknown setting{hint}; see the settings table in README")


def _similar(a: str, b: str) -> bool:
    import difflib
    return difflib.SequenceMatcher(None, a, b).ratio() > 0.8


def settings_table() -> str:
    """The settings as a Markdown table, as printed by `hc config` and kept in the README."""
    lines = ["| variable | default | unit | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        default = "(derived)" if s.default is None else f"`{s.default}`" if s.default else "(empty)"
        lines.append(f"| `{s.env_name}` | {default} | {s.unit} | {s.help} |")
    return "\n".join(lines)
