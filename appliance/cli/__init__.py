"""`hc`: the command line. Parses, validates, connects, runs; the work is elsewhere.

Bad input (unknown keys, wrong types, unknown names, a refused transition) ends
with exit code 2 and one line on stderr, and changes nothing.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

import peewee

from appliance import __version__, sessionkey
from appliance import config as config_module
from appliance.cli.terminal import Printable
from appliance.db import DatabaseUnavailable
from appliance.errors import BadInput

USAGE_ERROR = 2
LONG_RUNNING = {"agent", "server", "submit", "web", "all"}


class UsageError(Exception):
    """Bad input on the command line."""


# The module that adds each top-level command, in the order of `hc --help`. `hc X` imports
# only the modules that add X: the container health check, run every few seconds, does
# not pay for loading every command (plots, the registry client, the credential tools).
# tests/cli/test_cli.py checks this table against the parser built from every module.
COMMAND_MODULES = {
    "appliance.cli.processes": ("db", "agent", "server", "submit", "web", "all", "config"),
    "appliance.cli.catalog": ("site", "template", "user", "token"),
    "appliance.cli.hc_test": ("test",),
    "appliance.cli.run": ("run",),
    "appliance.cli.compare": ("compare",),
    "appliance.startup": ("bootstrap", "healthcheck", "demo"),
    "appliance.cli.instance": ("instance",),
    "appliance.cli.health": ("policy", "incident", "webhook", "site"),  # site: health actions
    "appliance.cli.lifecycle": ("retention", "keep", "status"),
    "appliance.cli.credential": ("credential",),
}
# Errors whose message is the whole answer (exit 2, one line), by the module raising them.
_REFUSALS = {"appliance.cli.run": "InfrastructureError", "appliance.startup": "StartupError"}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `command` alone when it is a known one."""
    parser = argparse.ArgumentParser(prog="hc", description="hc-appliance: test computing sites "
                                     "with functional and stress tests.")
    parser.add_argument("--version", action="version", version=f"hc-appliance {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    known = any(command in words for words in COMMAND_MODULES.values())
    site = None
    for name, words in COMMAND_MODULES.items():
        if known and command not in words:
            continue
        module = importlib.import_module(name)
        if name == "appliance.cli.catalog":
            site = module.add_commands(commands)      # the `hc site` group
        elif name == "appliance.cli.health":
            module.add_commands(commands, site)       # adds its actions to that group
        else:
            module.add_commands(commands)
    return parser


def _refusals() -> tuple[type[BaseException], ...]:
    from appliance.lifecycle import TransitionRefused
    loaded = tuple(getattr(sys.modules[name], error) for name, error in _REFUSALS.items()
                   if name in sys.modules)
    return (BadInput, TransitionRefused, UsageError, peewee.DoesNotExist, DatabaseUnavailable,
            sessionkey.KeyRefused, *loaded)


def main(argv: list[str] | None = None) -> int:
    """Run one command; everything it prints is stripped of control characters."""
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Printable(sys.stdout), Printable(sys.stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        settings = config_module.load()
        # Long-running programs log at HC_LOG_LEVEL; one-shot commands only say
        # what went wrong unless debugging was asked for.
        level = settings.log_level.upper()
        if args.command not in LONG_RUNNING and level != "DEBUG":
            level = "WARNING"
        logging.basicConfig(level=level, stream=sys.stderr,
                            format=f"%(asctime)s [{args.command}] %(levelname)s %(name)s: "
                            "%(message)s")
        return args.run(args, settings) or 0
    except Exception as error:
        if not isinstance(error, _refusals()):
            raise
        print(f"hc: error: {_one_line(error)}", file=sys.stderr)
        return USAGE_ERROR


def _one_line(error: Exception) -> str:
    if isinstance(error, peewee.DoesNotExist):
        return f"no such {type(error).__name__.removesuffix('DoesNotExist').lower() or 'row'}"
    return " ".join(str(error).split())
