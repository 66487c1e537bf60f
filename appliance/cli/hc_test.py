"""Tests on the command line: create, approve, cancel, clone, show, list, set-load."""
from __future__ import annotations

import getpass
import json
import sys
import time

from appliance import creation, lifecycle
from appliance.cli.output import percent, table, when
from appliance.cli.processes import connect
from appliance.cli.terminal import record_id, row_limit
from appliance.errors import BadInput
from appliance.knobs import KNOBS, LOAD_KNOBS
from appliance.models import Site, Template, Test, TestLog, TestSite
from appliance.moments import parse_when
from appliance.reports import summary
from appliance.states import TestState


def add_commands(commands) -> None:
    test = commands.add_parser("test", help="functional and stress tests").add_subparsers(
        dest="test_command", required=True, metavar="ACTION")
    create = test.add_parser("create", help="a new test from a template")
    create.add_argument("template")
    create.add_argument("--start", default="now", help="now, +10m, or an ISO time (UTC)")
    ends = create.add_mutually_exclusive_group()
    ends.add_argument("--end", help="+1h or an ISO time (UTC)")
    ends.add_argument("--duration", help="e.g. 30m; default: the template's duration")
    create.add_argument("--site", dest="sites", action="append", help="only these sites")
    _add_load_options(create)
    create.add_argument("--send", action="store_true", help="send for approval at once")
    create.add_argument("--approve", action="store_true", help="send and approve at once")
    create.set_defaults(run=test_create)
    for action, function in (("send-for-approval", lifecycle.send_for_approval),
                             ("approve", lifecycle.approve), ("cancel", lifecycle.cancel)):
        sub = test.add_parser(action, help=f"{action.replace('-', ' ')} a test")
        sub.add_argument("id", type=record_id)
        sub.set_defaults(run=lambda args, settings, f=function, a=action: _intent(args, settings,
                                                                                   f, a))
    clone = test.add_parser("clone", help="a new draft with another test's settings")
    clone.add_argument("id", type=record_id)
    clone.add_argument("--start", default="now")
    clone.set_defaults(run=test_clone)
    show = test.add_parser("show", help="a test with its per-site summary")
    show.add_argument("id", type=record_id)
    show.add_argument("--log", action="store_true", help="also print the test log")
    show.set_defaults(run=test_show)
    listing = test.add_parser("list", help="list tests")
    listing.add_argument("--state", choices=[s.value for s in TestState])
    listing.add_argument("--limit", type=row_limit, default=50)
    listing.set_defaults(run=test_list)
    export = test.add_parser("export", help="a test, its jobs and its log as JSON")
    export.add_argument("id", type=record_id)
    export.set_defaults(run=test_export)
    load = test.add_parser("set-load", help="change a site's load knobs in a test")
    load.add_argument("id", type=record_id)
    load.add_argument("site")
    _add_load_options(load)
    load.set_defaults(run=test_set_load)


def _add_load_options(parser) -> None:
    """One option per load knob (appliance.knobs), --no-X for flags."""
    for knob in KNOBS:
        if knob.is_flag:
            parser.add_argument(knob.option, action="store_true", default=None, help=knob.help)
            parser.add_argument("--no-" + knob.option[2:], dest=knob.name,
                                action="store_false")
        else:
            parser.add_argument(knob.option, type=int, help=knob.help)


def _load_options(args) -> dict:
    return {k: getattr(args, k) for k in LOAD_KNOBS if getattr(args, k) is not None}


def actor() -> str:
    return f"cli:{getpass.getuser()}"


def test_create(args, settings) -> int:
    """The same request as the web's form and the API's POST tests (appliance.creation)."""
    request = {"template": args.template, "start": args.start, "load": _load_options(args),
               "send_for_approval": bool(args.send or args.approve), "approve": args.approve}
    if args.end:
        request["end"] = args.end
    if args.duration:
        request["duration"] = args.duration
    if args.sites:
        request["sites"] = args.sites
    connect(settings)
    test = creation.create(creation.parse_test_request(request, admin=True), owner=actor())
    for warning in test.warnings:
        print(f"hc: warning: {warning}", file=sys.stderr)
    print(f"test {test.id} created ({test.state}), "
          f"{when(test.start_at)} to {when(test.end_at)}")
    return 0


def _intent(args, settings, function, action: str) -> int:
    connect(settings)
    function(args.id, actor())
    print(f"test {args.id}: {Test.get_by_id(args.id).state}")
    return 0


def test_clone(args, settings) -> int:
    connect(settings)
    source = Test.get_by_id(args.id)
    test = lifecycle.clone_test(source, actor(), start_at=parse_when(args.start, time.time()))
    print(f"test {test.id} cloned from test {source.id} (draft)")
    return 0


def test_show(args, settings) -> int:
    connect(settings)
    test = Test.get_by_id(args.id)
    print(f"test {test.id}  {test.category}  template {test.template.name}  state {test.state}"
          + (f" ({test.state_reason})" if test.state_reason else ""))
    print(f"  {when(test.start_at)} -> {when(test.end_at)}  host {test.submit_host or '-'}  "
          f"owner {test.owner}")
    counts = summary.counts_by_site(test.id)
    rows = []
    for test_site in TestSite.select(TestSite, Site).join(Site).where(TestSite.test == test.id):
        c = summary.add_efficiency(counts.get(test_site.site_id, summary.empty_counts()))
        rows.append([test_site.site.name, c["jobs_total"], c["jobs_pending"] + c["jobs_queued"],
                     c["jobs_running"], c["jobs_completed"], c["jobs_failed"], c["jobs_killed"],
                     c["jobs_lost"], percent(c["efficiency"]), test_site.max_running,
                     test_site.min_queue_depth, "on" if test_site.resubmit else "off"])
    print(table(["site", "total", "queued", "running", "completed", "failed", "killed", "lost",
                 "efficiency", "max run", "min queue", "resubmit"], rows))
    if args.log:
        for line in TestLog.select().where(TestLog.test == test.id).order_by(TestLog.id):
            print(f"{when(line.at)}  {line.severity:12} {line.actor:16} {line.message}")
    return 0


def test_list(args, settings) -> int:
    connect(settings)
    query = Test.select(Test, Template).join(Template).order_by(Test.id.desc()).limit(args.limit)
    if args.state:
        query = query.where(Test.state == args.state)
    rows = [[t.id, t.state, t.category, t.template.name, t.submit_host, when(t.start_at),
             when(t.end_at), t.jobs_total, percent(t.efficiency)] for t in query]
    print(table(["id", "state", "category", "template", "host", "start", "end", "jobs",
                 "efficiency"], rows))
    return 0


def test_set_load(args, settings) -> int:
    knobs = _load_options(args)
    if not knobs:
        raise BadInput("give at least one of "
                       + ", ".join(k.option for k in KNOBS))
    connect(settings)
    changes = lifecycle.set_load(args.id, args.site, actor(), **knobs)
    print("\n".join(changes) or "nothing changed")
    return 0


def test_export(args, settings) -> int:
    from appliance.ci import results

    connect(settings, migrate=False)
    print(json.dumps(results.to_dict(results.from_database(args.id))))
    return 0
