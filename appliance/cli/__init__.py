"""`hc`: the command line. Parses, validates, connects, runs; the work is elsewhere.

Bad input (unknown keys, wrong types, unknown names, a refused transition) ends
with exit code 2 and one line on stderr, and changes nothing.
"""
from __future__ import annotations

import argparse
import logging
import sys

import peewee

from appliance import __version__, sessionkey, startup
from appliance import config as config_module
from appliance.cli import (
    catalog,
    compare,
    credential,
    hc_test,
    health,
    instance,
    lifecycle,
    processes,
    run,
)
from appliance.cli.terminal import Printable
from appliance.db import DatabaseUnavailable
from appliance.errors import BadInput
from appliance.lifecycle import TransitionRefused

USAGE_ERROR = 2
LONG_RUNNING = {"agent", "server", "submit", "web", "all"}


class UsageError(Exception):
    """Bad input on the command line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hc", description="hc-appliance: test computing sites "
                                     "with functional and stress tests.")
    parser.add_argument("--version", action="version", version=f"hc-appliance {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    processes.add_commands(commands)
    site = catalog.add_commands(commands)
    hc_test.add_commands(commands)
    run.add_commands(commands)
    startup.add_commands(commands)
    instance.add_commands(commands)
    health.add_commands(commands, site)
    lifecycle.add_commands(commands)
    credential.add_commands(commands)
    compare.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; everything it prints is stripped of control characters."""
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Printable(sys.stdout), Printable(sys.stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
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
    except (BadInput, TransitionRefused, UsageError, peewee.DoesNotExist,
            DatabaseUnavailable, run.InfrastructureError, startup.StartupError,
            sessionkey.KeyRefused) as error:
        print(f"hc: error: {_one_line(error)}", file=sys.stderr)
        return USAGE_ERROR


def _one_line(error: Exception) -> str:
    if isinstance(error, peewee.DoesNotExist):
        return f"no such {type(error).__name__.removesuffix('DoesNotExist').lower() or 'row'}"
    return " ".join(str(error).split())
