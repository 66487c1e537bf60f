"""Site health on the command line: policy, pins and opt-outs, incidents, webhooks."""
from __future__ import annotations

import time

from appliance.cli.hc_test import actor, parse_when
from appliance.cli.output import table, when
from appliance.cli.processes import connect
from appliance.cli.terminal import record_id, row_limit
from appliance.config import parse_duration
from appliance.errors import BadInput
from appliance.health import events, replay, store, views, webhooks
from appliance.health import policy as policy_module


def add_commands(commands, site) -> None:
    """`site` is the `hc site` sub-command group, which gains the health actions (None
    when the command being run is not `hc site`)."""
    _policy_commands(commands)
    if site is not None:
        _site_commands(site)
    incident = commands.add_parser("incident", help="circuit-breaker incidents").add_subparsers(
        dest="incident_command", required=True, metavar="ACTION")
    listing = incident.add_parser("list", help="open incidents (--all: also closed ones)")
    listing.add_argument("--all", action="store_true")
    listing.set_defaults(run=incident_list)
    release = incident.add_parser("release", help="let an incident's held exclusions go ahead")
    release.add_argument("id", type=record_id)
    release.set_defaults(run=incident_release)

    hook = commands.add_parser("webhook", help="URLs told of every site status change") \
        .add_subparsers(dest="webhook_command", required=True, metavar="ACTION")
    add = hook.add_parser("add", help="add a webhook")
    add.add_argument("url")
    add.set_defaults(run=webhook_add)
    hook.add_parser("list", help="webhooks and their deliveries").set_defaults(run=webhook_list)
    remove = hook.add_parser("remove", help="remove a webhook")
    remove.add_argument("id", type=record_id)
    remove.set_defaults(run=webhook_remove)
    shown = hook.add_parser("deliveries", help="the latest deliveries")
    shown.add_argument("--limit", type=row_limit, default=20)
    shown.set_defaults(run=webhook_deliveries)


def _policy_commands(commands) -> None:
    group = commands.add_parser("policy", help="the site-health policy").add_subparsers(
        dest="policy_command", required=True, metavar="ACTION")
    show = group.add_parser("show", help="the policy in force (or another version)")
    show.add_argument("--version", type=record_id)
    show.set_defaults(run=policy_show)
    group.add_parser("list", help="every policy version").set_defaults(run=policy_list)
    for action, function, text in (("load", policy_load, "validate and put a policy in force"),
                                   ("check", policy_check, "validate a policy file only")):
        sub = group.add_parser(action, help=f"{text} ('-': stdin)")
        sub.add_argument("file")
        sub.set_defaults(run=function)
    sub = group.add_parser("replay", help="what a policy would have done over stored history")
    sub.add_argument("--from", dest="start", required=True,
                     help="ISO time (UTC), or a time ago like 7d")
    sub.add_argument("--to", dest="end", default="now",
                     help="ISO time (UTC), now (default), or a time ago like 1d")
    sub.add_argument("--policy", help="a policy file; default the policy in force")
    sub.add_argument("--recorded", action="store_true",
                     help="evaluate at the recorded evaluation times instead of every interval")
    sub.set_defaults(run=policy_replay)


def _site_commands(site) -> None:
    health = site.add_parser("health", help="sites' verdicts under the policy in force")
    health.add_argument("name", nargs="?")
    health.set_defaults(run=site_health)
    pin = site.add_parser("pin", help="pin a site's status: the automation leaves it alone")
    pin.add_argument("name")
    pin.add_argument("--status", choices=["online", "test", "excluded", "offline"])
    pin.add_argument("--reason", required=True)
    pin.set_defaults(run=lambda a, s: _change(s, events.pin, a.name, a.status, a.reason,
                                              actor()))
    unpin = site.add_parser("unpin", help="lift a pin")
    unpin.add_argument("name")
    unpin.set_defaults(run=lambda a, s: _change(s, events.unpin, a.name, actor()))
    out = site.add_parser("opt-out", help="no automatic exclusion or re-inclusion")
    out.add_argument("name")
    out.add_argument("--reason", required=True)
    out.set_defaults(run=lambda a, s: _change(s, events.set_automation, a.name, False, a.reason,
                                              actor()))
    opt_in = site.add_parser("opt-in", help="back under automation")
    opt_in.add_argument("name")
    opt_in.set_defaults(run=lambda a, s: _change(s, events.set_automation, a.name, True, "",
                                                 actor()))
    listing = site.add_parser("events", help="a site's status changes and why")
    listing.add_argument("name")
    listing.add_argument("--limit", type=row_limit, default=20)
    listing.set_defaults(run=site_events)


def _change(settings, function, name, *args) -> int:
    connect(settings)
    function(name, *args)
    site = views.site_dict(events._site(name))
    flags = [f"pinned ({site['pin_reason']})" if site["pinned"] else "",
             "" if site["automation"] else "opted out"]
    print(f"site {name}: {site['status']}" + "".join(f", {f}" for f in flags if f))
    return 0


def policy_show(args, settings) -> int:
    connect(settings)
    shown = views.policy(args.version)
    print(f"# policy version {shown['version']} ({shown['name']}), loaded "
          f"{when(shown['loaded_at'])} by {shown['loaded_by']}"
          + ("; in force" if shown["active"] else ""))
    print(shown["source"].rstrip())
    return 0


def policy_list(args, settings) -> int:
    connect(settings)
    store.active_policy()
    rows = [[v["version"], v["name"], when(v["loaded_at"]), v["loaded_by"]]
            for v in views.policy_versions()["versions"]]
    print(table(["version", "name", "loaded", "by"], rows))
    return 0


def policy_check(args, settings) -> int:
    source = policy_module.read_file(args.file)
    policy_module.parse(source)
    connect(settings)
    parsed = policy_module.parse(source, known_templates=store.functional_template_names())
    print(f"{args.file}: policy {parsed.name} is valid")
    return 0


def policy_load(args, settings) -> int:
    source = policy_module.read_file(args.file)
    policy_module.parse(source)  # syntax errors before touching the database
    connect(settings)
    version, parsed = store.load_policy(source, actor())
    print(f"policy {parsed.name} loaded as version {version}; in force from the next evaluation")
    return 0


def policy_replay(args, settings) -> int:
    now = time.time()
    start, end = _moment(args.start, now), _moment(args.end, now)
    source = policy_module.read_file(args.policy) if args.policy else None
    if source is not None:
        policy_module.parse(source)
    connect(settings)
    if source is None:
        version, policy = store.active_policy()
        label = f"policy version {version}"
    else:
        policy = policy_module.parse(source, known_templates=store.functional_template_names())
        label = args.policy
    times = replay.recorded_times(start, end) if args.recorded else None
    result = replay.replay(policy, start, end, times)
    print(render_replay(result, label))
    return 0


def _moment(text: str, now: float) -> float:
    """An ISO time, `now`, or a time ago: 7d, 12h (also -7d, as in --from=-7d)."""
    try:
        return now - parse_duration(text.removeprefix("-"))
    except BadInput:
        return parse_when(text, now)


def render_replay(result: replay.ReplayResult, label: str) -> str:
    lines = [f"replay of {label} from {when(result.start)} to {when(result.end)}: "
             f"{result.evaluations} evaluations"]
    rows = [[e.site, when(e.start), when(e.end) if e.end else "(still excluded)",
             _hours((e.end or result.end) - e.start), e.rule] for e in result.exclusions]
    lines += [f"{len(result.exclusions)} exclusions", table(
        ["site", "excluded", "re-included", "for", "rule"], rows)] if rows else ["no exclusions"]
    lines.append(f"breaker held exclusions in {result.held_evaluations} evaluations, "
                 f"{len(result.incidents)} incidents")
    for incident in result.incidents:
        closed = when(incident.closed_at) if incident.closed_at else "still open"
        lines.append(f"  incident {when(incident.opened_at)} to {closed}: {incident.summary} "
                     f"({', '.join(sorted(incident.sites))})")
    return "\n".join(lines)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def site_health(args, settings) -> int:
    connect(settings)
    if args.name:
        found = views.site_health(args.name)
        for key in ("site", "status", "status_reason", "automation", "pinned", "pin_reason",
                    "verdict", "rule", "detail"):
            print(f"{key:14} {found[key]}")
        for item in found["evidence"]:
            print(f"  evidence: job {item['job']} {item['template']} {item['state']} "
                  f"exit {item['exit_code']} {item['reason'] or ''}".rstrip())
        return 0
    found = views.overview()
    rows = [[s["site"], s["status"], "pinned" if s["pinned"] else
             "" if s["automation"] else "opted out", s["verdict"], s["rule"] or s["detail"]]
            for s in found["sites"]]
    print(f"policy version {found['policy_version']}; "
          f"{len(found['open_incidents'])} open incidents")
    print(table(["site", "status", "manual", "verdict", "why"], rows))
    return 0


def site_events(args, settings) -> int:
    connect(settings)
    events._site(args.name)
    rows = [[when(e["at"]), e["kind"], f"{e['old_status']} -> {e['new_status']}", e["rule"],
             e["actor"], e["reason"], ",".join(str(x["job"]) for x in e["evidence"])]
            for e in views.site_events(args.name, args.limit)["events"]]
    print(table(["at", "kind", "status", "rule", "by", "reason", "jobs"], rows))
    return 0


def incident_list(args, settings) -> int:
    connect(settings)
    rows = [[i["id"], i["state"], when(i["opened_at"]), when(i["closed_at"]), i["trigger"],
             len(i["sites"]), i["summary"]] for i in views.incidents(closed=args.all)["incidents"]]
    print(table(["id", "state", "opened", "closed", "trigger", "sites", "summary"], rows))
    return 0


def incident_release(args, settings) -> int:
    connect(settings)
    incident = store.release_incident(args.id, actor())
    print(f"incident {incident.id} released: held exclusions apply from the next evaluation")
    return 0


def webhook_add(args, settings) -> int:
    connect(settings)
    hook = webhooks.add(args.url, actor())
    print(f"webhook {hook.id} added: {hook.url}")
    return 0


def webhook_list(args, settings) -> int:
    connect(settings)
    rows = [[h["id"], h["url"], "yes" if h["active"] else "no",
             ", ".join(f"{k} {v}" for k, v in sorted(h["deliveries"].items())) or "-"]
            for h in views.webhooks()["webhooks"]]
    print(table(["id", "url", "active", "deliveries"], rows))
    return 0


def webhook_remove(args, settings) -> int:
    connect(settings)
    webhooks.remove(args.id)
    print(f"webhook {args.id} removed")
    return 0


def webhook_deliveries(args, settings) -> int:
    connect(settings)
    rows = [[d["id"], d["webhook"], d["event"], d["state"], d["attempts"], d["last_status"],
             when(d["last_attempt_at"]), d["last_error"]]
            for d in views.deliveries(args.limit)["deliveries"]]
    print(table(["id", "webhook", "event", "state", "attempts", "http", "last attempt",
                 "error"], rows))
    return 0

