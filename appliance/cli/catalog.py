"""Sites, templates, users and API tokens on the command line."""
from __future__ import annotations

import getpass
import json
import sys

from appliance import accounts, sessions
from appliance.cli.output import table, when
from appliance.cli.processes import connect
from appliance.cli.terminal import record_id
from appliance.documents import (
    SITE_STATUSES,
    SpecError,
    check_site,
    name,
    parse_document,
    parse_setting,
    save_template,
)
from appliance.models import ApiToken, Site, Template, User
from appliance.states import Role


def add_commands(commands):
    """Add the commands; returns the `hc site` group, to which others add actions."""
    site = commands.add_parser("site", help="computing sites").add_subparsers(
        dest="site_command", required=True, metavar="ACTION")
    add = site.add_parser("add", help="add a site")
    add.add_argument("name")
    add.add_argument("--backend", required=True, help="local, fake, ...")
    add.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                     help="a backend setting (value read as JSON if it parses)")
    add.add_argument("--cloud", default="")
    add.add_argument("--tag", dest="tags", action="append", default=[])
    add.set_defaults(run=site_add)
    site.add_parser("list", help="list sites").set_defaults(run=site_list)
    show = site.add_parser("show", help="one site in detail")
    show.add_argument("name")
    show.set_defaults(run=site_show)
    check = site.add_parser("check", help="is the site's backend reachable and usable? "
                            "(exit 1 when not)")
    check.add_argument("name")
    check.set_defaults(run=site_check)
    status = site.add_parser("set-status", help="set a site's status by hand")
    status.add_argument("name")
    status.add_argument("status", choices=SITE_STATUSES)
    status.add_argument("--reason", required=True)
    status.set_defaults(run=site_set_status)

    template = commands.add_parser("template", help="test templates").add_subparsers(
        dest="template_command", required=True, metavar="ACTION")
    add = template.add_parser("add", help="add a template from a YAML or JSON file ('-': stdin)")
    add.add_argument("file")
    add.add_argument("--replace", action="store_true", help="change an existing template")
    add.set_defaults(run=template_add)
    template.add_parser("list", help="list templates").set_defaults(run=template_list)
    show = template.add_parser("show", help="one template in detail")
    show.add_argument("name")
    show.set_defaults(run=template_show)

    user = commands.add_parser("user", help="accounts").add_subparsers(
        dest="user_command", required=True, metavar="ACTION")
    add = user.add_parser("add", help="add an account (password from stdin or a prompt)")
    add.add_argument("name")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.USER.value)
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(run=user_add)
    passwd = user.add_parser("password", help="set a new password; ends the user's web sessions")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(run=user_password)
    logout = user.add_parser("logout", help="end every web session of a user")
    logout.add_argument("name")
    logout.set_defaults(run=user_logout)

    token = commands.add_parser("token", help="API tokens for scripts and CI").add_subparsers(
        dest="token_command", required=True, metavar="ACTION")
    make = token.add_parser("add", help="make a token for a user; prints it once")
    make.add_argument("user")
    make.add_argument("--name", default="cli", help="what the token is for (e.g. 'gitlab ci')")
    make.set_defaults(run=token_add)
    listing = token.add_parser("list", help="tokens (never their text)")
    listing.add_argument("--user")
    listing.set_defaults(run=token_list)
    revoke = token.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id", type=record_id)
    revoke.set_defaults(run=token_revoke)
    return site


def site_add(args, settings) -> int:
    values = check_site(args.name, args.backend, dict(map(parse_setting, args.settings)),
                        args.cloud, args.tags)
    connect(settings)
    if Site.get_or_none(Site.name == args.name):
        raise SpecError(f"site {args.name!r} exists")
    Site.create(**values)
    print(f"site {args.name} added ({args.backend})")
    return 0


def site_list(args, settings) -> int:
    connect(settings)
    checks = {None: "-", True: "ok", False: "FAILED"}
    rows = [[s.name, s.backend, s.cloud, s.status, s.status_reason, checks[s.check_ok]]
            for s in Site.select().order_by(Site.name)]
    print(table(["site", "backend", "cloud", "status", "reason", "check"], rows))
    return 0


def site_show(args, settings) -> int:
    connect(settings)
    site = Site.get(Site.name == args.name)
    for label, value in (("site", site.name), ("backend", site.backend),
                         ("settings", json.dumps(site.backend_settings, sort_keys=True)),
                         ("cloud", site.cloud), ("tags", ", ".join(site.tags)),
                         ("status", site.status), ("reason", site.status_reason),
                         ("since", when(site.status_changed_at))):
        print(f"{label:9} {value}")
    return 0


def site_set_status(args, settings) -> int:
    from appliance.cli.hc_test import actor
    from appliance.health.events import set_status
    connect(settings)
    set_status(args.name, args.status, args.reason, actor())  # an event, like every change
    print(f"site {args.name}: {args.status} ({args.reason})")
    return 0


def template_add(args, settings) -> int:
    try:
        if args.file == "-":
            source = sys.stdin.read()
        else:
            with open(args.file) as handle:
                source = handle.read()
    except OSError as error:
        raise SpecError(f"{args.file}: {error.strerror}") from None
    document = parse_document(source, args.file)
    connect(settings)
    template = save_template(document, replace=args.replace)
    print(f"template {template.name} {'saved' if args.replace else 'added'} "
          f"({template.category}, {len(document['sites'])} sites)")
    return 0


def template_list(args, settings) -> int:
    connect(settings)
    rows = [[t.name, t.category, "yes" if t.golden else "", "yes" if t.active else "no",
             t.max_running, t.min_queue_depth, t.duration]
            for t in Template.select().order_by(Template.category, Template.name)]
    print(table(["template", "category", "golden", "active", "max running", "min queue",
                 "duration s"], rows))
    return 0


def template_show(args, settings) -> int:
    connect(settings)
    template = Template.get(Template.name == args.name)
    job = template.job_template
    document = {
        "name": template.name, "category": template.category, "golden": template.golden,
        "description": template.description, "active": template.active,
        "duration": template.duration, "sites": [ts.site.name for ts in template.template_sites],
        "load": {k: getattr(template, k) for k in ("max_running", "min_queue_depth",
                                                   "resubmit", "job_cap")},
        "job": {k: getattr(job, k) for k in ("command", "image", "environment", "timeout",
                                             "metrics_file", "network")}}
    print(json.dumps(document, indent=2))
    return 0


def user_add(args, settings) -> int:
    name("user.name", args.name)
    password = _read_password(args)
    accounts.check_password(password)  # before connecting: bad input changes nothing
    connect(settings)
    accounts.add_user(args.name, password, args.role)
    print(f"user {args.name} added ({args.role})")
    return 0


def user_password(args, settings) -> int:
    password = _read_password(args)
    accounts.check_password(password)
    connect(settings)
    ended = accounts.set_password(_user(args.name), password)
    print(f"password of {args.name} changed; {ended} web session(s) ended")
    return 0


def user_logout(args, settings) -> int:
    connect(settings)
    print(f"{sessions.end_all(_user(args.name))} web session(s) of {args.name} ended")
    return 0


def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(f"password for {args.name}: ")


def _user(name: str) -> User:
    user = User.get_or_none(User.name == name)
    if user is None:
        raise SpecError(f"no user named {name!r} (hc user add {name})")
    return user


def token_add(args, settings) -> int:
    connect(settings)
    user = User.get_or_none(User.name == args.user)
    if user is None:
        raise SpecError(f"no user named {args.user!r} (hc user add {args.user})")
    token, text = accounts.make_token(user, args.name)
    print(f"# token {token.id} for {user.name} ({user.role}); shown once", file=sys.stderr)
    print(text)
    return 0


def token_list(args, settings) -> int:
    connect(settings)
    query = ApiToken.select(ApiToken, User).join(User).order_by(ApiToken.id)
    if args.user:
        query = query.where(User.name == args.user)
    print(table(["id", "user", "name", "starts with", "made", "last used", "revoked"],
                [[t.id, t.user.name, t.name, t.prefix, when(t.created_at), when(t.last_used_at),
                  when(t.revoked_at) if t.revoked_at else "-"] for t in query]))
    return 0


def token_revoke(args, settings) -> int:
    connect(settings)
    if not accounts.revoke_token(args.id):
        raise SpecError(f"no valid token {args.id}")
    print(f"token {args.id} revoked")
    return 0


def site_check(args, settings) -> int:
    from appliance.sitecheck import check_and_record

    connect(settings)
    ok, message = check_and_record(Site.get(Site.name == args.name), settings.hostname)
    print(f"{args.name}: {'ok' if ok else 'FAILED'}: {message}")
    return 0 if ok else 1
