"""`hc compare A B`: side B against side A, per site and figure, with a verdict each."""
from __future__ import annotations

import json

from appliance.cli.output import table
from appliance.cli.processes import connect
from appliance.compare.options import request_from

HEADERS = ["site", "figure", "jobs A", "jobs B", "median A", "median B", "B - A",
           "95% interval", "p (corrected)", "verdict"]
SAME = "no significant difference"


def add_commands(commands) -> None:
    parser = commands.add_parser(
        "compare", help="compare side B with side A (test:ID or template:NAME@START..END), "
        "or one site with the other sites of test A (--site)")
    parser.add_argument("a", help="the reference side: test:ID (or just ID) or "
                        "template:NAME@START..END")
    parser.add_argument("b", nargs="?", default="", help="the side compared with A")
    parser.add_argument("--site", help="compare this site of test A with A's other sites")
    parser.add_argument("--direction", action="append", default=[], metavar="METRIC:WAY",
                        help="which way is better for a payload metric (higher or lower)")
    parser.add_argument("--differences", action="store_true",
                        help="only the rows whose verdict is not 'no significant difference'")
    parser.add_argument("--json", action="store_true", help="the whole comparison as JSON")
    parser.add_argument("--fail-on-worse", action="store_true",
                        help="exit code 1 when a row of B is worse")
    parser.set_defaults(run=compare_command)


def compare_command(args, settings) -> int:
    from appliance.compare import engine

    asked = request_from(args.a, args.b, args.site, args.direction)
    connect(settings)
    result = engine.compare(asked.a, asked.b, asked.site, list(asked.directions))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(render(result, args.differences))
    worse = [r for r in result["rows"] if r["verdict"] == "worse"]
    return 1 if args.fail_on_worse and worse else 0


def render(result: dict, differences: bool = False) -> str:
    """The comparison as a text table with a heading and a one-line summary."""
    rows = [r for r in result["rows"] if not differences or r["verdict"] != SAME]
    lines = [f"B: {result['b']['label']} ({result['b']['jobs']} jobs) against "
             f"A: {result['a']['label']} ({result['a']['jobs']} jobs)",
             table(HEADERS, [_cells(r) for r in rows])]
    for side in ("a", "b"):
        if result[f"sites_only_in_{side}"]:
            lines.append(f"only in {side.upper()} (not compared): "
                         + ", ".join(result[f"sites_only_in_{side}"]))
    for verdict in ("worse", "better"):
        found = [f"{r['site']} {r['figure']}" for r in result["rows"] if r["verdict"] == verdict]
        lines.append(f"{verdict}: {', '.join(found) if found else 'none'}")
    return "\n".join(lines)


def _cells(row: dict) -> list:
    interval = f"{row['ci'][0]:.3g} .. {row['ci'][1]:.3g}" if row["ci"] else None
    figure = f"{row['figure']} ({row['unit']})" if row["unit"] else row["figure"]
    return [row["site"], figure, row["a"]["n"], row["b"]["n"], row["a"]["median"],
            row["b"]["median"], row["difference"], interval, row["p_adjusted"], row["verdict"]]
