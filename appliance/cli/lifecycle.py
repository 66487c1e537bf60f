"""The data lifecycle on the command line: `hc retention`, `hc keep`, `hc status`."""
from __future__ import annotations

import time

import peewee as pw

from appliance import budget, retention
from appliance.cli.output import table, when
from appliance.cli.processes import connect
from appliance.models import Agent, Test
from appliance.states import TEST_ON_SUBMIT_HOST


def add_commands(commands) -> None:
    apply = commands.add_parser("retention", help="remove old job rows, logs and work areas "
                                "now, as the server agent does on its schedule (HC_RETAIN_*)")
    apply.add_argument("--dry-run", action="store_true", help="only show what would go")
    apply.set_defaults(run=retention_command)
    keep = commands.add_parser("keep", help="pin a stress test against retention (--off: unpin)")
    keep.add_argument("test", type=int)
    keep.add_argument("--off", action="store_true")
    keep.set_defaults(run=keep_command)
    commands.add_parser("status", help="agents, tests in progress and the disk budget") \
        .set_defaults(run=status_command)


def retention_command(args, settings) -> int:
    connect(settings)
    now = time.time()
    if args.dry_run:
        report = retention.plan(settings, now)
        print("would remove (dry run, nothing changed):")
    else:
        began = time.monotonic()
        report = retention.run(settings, now, budget=None)
        print(f"removed in {time.monotonic() - began:.1f} s:")
    for line in report.lines():
        print("  " + line)
    return 0


def keep_command(args, settings) -> int:
    from appliance.cli.hc_test import actor
    connect(settings)
    test = retention.set_keep(args.test, not args.off, actor(), admin=True)
    print(f"test {test.id}: {'kept' if test.keep else 'not kept'}")
    return 0


def status_command(args, settings) -> int:
    connect(settings)
    now = time.time()
    agents = [(a.role, a.host, a.pid, f"{now - a.heartbeat_at:.0f} s",
               "stopped" if a.stopped_at else "running")
              for a in Agent.select().order_by(Agent.role, Agent.host)]
    print(table(["role", "host", "pid", "heartbeat age", "state"], agents))
    running = (Test.select(Test.state, pw.fn.COUNT(Test.id))
               .where(Test.state.in_([s.value for s in TEST_ON_SUBMIT_HOST]))
               .group_by(Test.state).tuples())
    print("tests in progress: " + (", ".join(f"{n} {s}" for s, n in running) or "none"))
    last = Test.select(pw.fn.MAX(Test.jobs_removed_at)).scalar()
    print(f"retention: last removed job rows {when(last) if last else 'never'}")
    for line in budget.lines(budget.budget(settings)):
        print(line)
    return 0
