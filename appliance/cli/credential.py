"""`hc credential add|list|show|renew|remove`: grid certificates and bearer tokens.

Nothing secret is ever printed: subject, issuer, expiry, history and the sites
that use a credential.
"""
from __future__ import annotations

import getpass
import time

from appliance import credentials
from appliance.cli.output import table, when
from appliance.cli.processes import connect
from appliance.config import parse_duration
from appliance.errors import BadInput
from appliance.models import Credential, CredentialEvent


def add_commands(commands) -> None:
    group = commands.add_parser("credential", help="grid certificates and bearer tokens") \
        .add_subparsers(dest="credential_command", required=True, metavar="ACTION")
    add = group.add_parser("add", help="register a certificate and key, or a token")
    add.add_argument("name")
    add.add_argument("--cert", help="PEM certificate (user or robot); the key may be in it")
    add.add_argument("--key", help="PEM private key, unencrypted (mode 0600 is kept)")
    add.add_argument("--token-file", help="a bearer token (JWT) instead of a certificate")
    add.add_argument("--proxy-lifetime", default="12h", help="each proxy's lifetime (12h)")
    add.add_argument("--renew-fraction", type=float, default=credentials.RENEW_FRACTION,
                     help="share of a proxy's lifetime used before it is renewed (0.5)")
    add.add_argument("--warn-before", default="7d", help="warn this long before the end (7d)")
    add.add_argument("--refuse-before", default="60s",
                     help="do not use a proxy or token with less left (60s)")
    add.set_defaults(run=credential_add)
    group.add_parser("list", help="list credentials").set_defaults(run=credential_list)
    for action, help_text, run in (("show", "one credential and its history", credential_show),
                                   ("remove", "forget a credential and delete its files",
                                    credential_remove)):
        parser = group.add_parser(action, help=help_text)
        parser.add_argument("name")
        parser.set_defaults(run=run)
    renew = group.add_parser("renew", help="make a fresh proxy now, or put a new token in")
    renew.add_argument("name")
    renew.add_argument("--token-file", help="the new token (token credentials)")
    renew.set_defaults(run=credential_renew)


def _duration(text: str, what: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise BadInput(f"{what}: {error}") from None


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise BadInput(f"cannot read {path}: {error.strerror}") from None


def credential_add(args, settings) -> int:
    connect(settings)
    actor = f"cli:{getpass.getuser()}"
    root = settings.secrets_dir
    now = time.time()
    warn = _duration(args.warn_before, "--warn-before")
    refuse = _duration(args.refuse_before, "--refuse-before")
    if args.token_file and (args.cert or args.key):
        raise BadInput("give --token-file, or --cert (and --key), not both")
    if args.token_file:
        token = _read(args.token_file).decode("utf-8", "replace")
        row = credentials.add_token(args.name, token, now, actor, root, warn, refuse)
    elif args.cert:
        cert = _read(args.cert)
        key = _read(args.key) if args.key else cert
        row = credentials.add_x509(args.name, cert, key, now, actor, root,
                                   _duration(args.proxy_lifetime, "--proxy-lifetime"),
                                   args.renew_fraction, warn, refuse)
    else:
        raise BadInput("give --cert FILE [--key FILE] or --token-file FILE")
    print(f"credential {row.name} added: {row.kind} of {row.subject or '?'}, usable until "
          f"{when(row.usable_until)}")
    return 0


def credential_list(args, settings) -> int:
    connect(settings)
    now = time.time()
    rows = [[c.name, c.kind, credentials.health(c, now).level, c.subject, when(c.expires_at),
             when(c.usable_until), ", ".join(credentials.sites_using(c.name)) or "-"]
            for c in Credential.select().order_by(Credential.name)]
    print(table(["name", "kind", "state", "subject", "expires", "usable until", "sites"], rows))
    return 0


def credential_show(args, settings) -> int:
    connect(settings)
    row = credentials.get(args.name)
    state = credentials.health(row, time.time())
    lines = [f"name: {row.name}", f"kind: {row.kind}", f"state: {state.level}: {state.message}",
             f"subject: {row.subject}", f"issuer: {row.issuer}",
             f"valid from: {when(row.not_before)}", f"expires: {when(row.expires_at)}",
             f"usable until: {when(row.usable_until)}",
             f"sites: {', '.join(credentials.sites_using(row.name)) or '-'}"]
    if row.kind == credentials.X509:
        lines += [f"proxy lifetime: {row.proxy_lifetime:.0f} s, renewed after "
                  f"{row.renew_fraction:.0%} of it ({row.renewals} renewals)"]
    lines += [f"warn before: {row.warn_before:.0f} s, refuse before: {row.refuse_before:.0f} s",
              "history:"]
    events = row.events.order_by(CredentialEvent.at.desc()).limit(20)
    lines += [f"  {when(e.at)}  {e.kind:8}  {e.message}" for e in events]
    print("\n".join(lines))
    return 0


def credential_renew(args, settings) -> int:
    connect(settings)
    token = _read(args.token_file).decode("utf-8", "replace") if args.token_file else None
    row = credentials.renew(args.name, time.time(), f"cli:{getpass.getuser()}",
                            settings.secrets_dir, token)
    print(f"credential {row.name} renewed: usable until {when(row.usable_until)}")
    return 0


def credential_remove(args, settings) -> int:
    connect(settings)
    credentials.remove(args.name, settings.secrets_dir)
    print(f"credential {args.name} removed")
    return 0
