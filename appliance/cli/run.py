"""`hc run`: run one test for CI and decide by thresholds.

Exit codes: 0 every threshold holds; 1 a threshold failed or the test ended in
error or was cancelled; 2 usage or infrastructure error (bad threshold, bad
template, instance not reachable), reported before any job is submitted where
possible.
"""
from __future__ import annotations

import os
import sys
import time

from appliance import lifecycle, summary
from appliance.cli.output import percent, table
from appliance.config import parse_duration
from appliance.models import Site, Test
from appliance.run import results as results_module
from appliance.run import thresholds as thresholds_module
from appliance.run.junit import junit_xml
from appliance.run.local_instance import LocalInstance
from appliance.run.progress import Progress
from appliance.run.report import html_report
from appliance.specs import SpecError, check_site, parse_document, save_template
from appliance.states import TEST_FINAL, TestState

EXIT_CODES = ("exit codes: 0 every threshold holds; 1 a threshold failed or the test ended in "
              "error or was cancelled; 2 usage or infrastructure error")
ACTOR = "hc-run"


class InfrastructureError(RuntimeError):
    """The instance could not run the test; exit code 2."""


def add_commands(commands) -> None:
    run = commands.add_parser("run", help="run a test, wait, and judge it by thresholds (CI)",
                              description=__doc__.split("\n\n")[0], epilog=EXIT_CODES)
    run.add_argument("template", help="a template file (YAML/JSON; may define its sites under "
                     "site_definitions)")
    run.add_argument("--site", dest="sites", action="append", help="only these sites")
    run.add_argument("--duration", help="e.g. 5m; default: the template's")
    run.add_argument("--image", help="container image for the payload (Docker sites)")
    run.add_argument("--wait", action="store_true", help="wait for the end and judge it")
    run.add_argument("--threshold", dest="thresholds", action="append", default=[],
                     metavar="EXPR", help="e.g. efficiency>=0.95, failed==0, p95(wall)<=300s, "
                     "mean(metric:NAME)>=50, site:NAME:failed==0")
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    run.add_argument("--report", metavar="FILE", help="write a self-contained HTML report here")
    run.add_argument("--keep", action="store_true", help="keep the throwaway instance's files")
    run.add_argument("--timeout", help="give up waiting after this long (default: the test's "
                     "duration plus 10m)")
    run.set_defaults(run=run_command)


def run_command(args, settings) -> int:
    thresholds = thresholds_module.parse_all(args.thresholds)
    if (thresholds or args.junit or args.report) and not args.wait:
        raise SpecError("--threshold, --junit and --report need --wait")
    document, site_definitions = _load_document(args)
    started = time.monotonic()
    with LocalInstance(keep=args.keep) as instance:
        test_id = _create(document, site_definitions, args, thresholds)
        print(f"test {test_id} created in a throwaway instance ({instance.root})", flush=True)
        if not args.wait:
            return 0
        _wait(test_id, instance, _timeout(args, document))
        return _judge(test_id, thresholds, args, time.monotonic() - started)


def _load_document(args) -> tuple[dict, list]:
    if not os.path.isfile(args.template):
        raise SpecError(f"{args.template}: no such template file (a throwaway instance starts "
                        "empty, so give the template as a file)")
    with open(args.template) as handle:
        document = parse_document(handle.read(), args.template)
    site_definitions = document.pop("site_definitions", [])
    if not isinstance(site_definitions, list):
        raise SpecError("template.site_definitions: must be a list of sites")
    for number, site in enumerate(site_definitions):
        if not isinstance(site, dict) or set(site) - {"name", "backend", "settings", "cloud"}:
            raise SpecError(f"template.site_definitions[{number}]: give name, backend, "
                            "settings and cloud only")
        check_site(site.get("name"), site.get("backend", ""), site.get("settings", {}),
                   site.get("cloud", ""))
    if args.duration:
        document["duration"] = args.duration
    if args.image:
        if not isinstance(document.get("job"), dict):
            raise SpecError("template.job: must be a mapping")
        document["job"]["image"] = args.image
    return document, site_definitions


def _create(document: dict, site_definitions: list, args, thresholds) -> int:
    for site in site_definitions:
        Site.create(**check_site(site["name"], site["backend"], site.get("settings", {}),
                                 site.get("cloud", "")))
    template = save_template(document)
    sites = None
    if args.sites:
        sites = list(Site.select().where(Site.name.in_(args.sites)))
        missing = set(args.sites) - {s.name for s in sites}
        if missing:
            raise SpecError(f"--site {min(missing)}: not a site of this run")
    now = time.time()
    test = lifecycle.create_test(template, now, now + template.duration, owner=ACTOR, sites=sites)
    site_names = [ts.site.name for ts in test.test_sites]
    thresholds_module.parse_all([t.text for t in thresholds], known_sites=site_names)
    lifecycle.send_for_approval(test.id, ACTOR)
    lifecycle.approve(test.id, ACTOR)
    return test.id


def _timeout(args, document: dict) -> float:
    if args.timeout:
        return parse_duration(args.timeout)
    return parse_duration(str(document.get("duration", "1h"))) + 600


def _wait(test_id: int, instance: LocalInstance, timeout: float) -> None:
    progress = Progress()
    deadline = time.monotonic() + timeout
    try:
        while True:
            test = Test.get_by_id(test_id)
            counts = summary.counts_by_site(test_id)
            total = summary.empty_counts()
            for site_counts in counts.values():
                for key, value in site_counts.items():
                    total[key] += value
            progress.show(test.state, {k.removeprefix("jobs_"): v for k, v in total.items()
                                       if k != "jobs_total"})
            if TestState(test.state) in TEST_FINAL:
                return
            if not instance.agents_alive():
                raise InfrastructureError("the instance's agents stopped; see "
                                          f"{instance.root}/agents.log (use --keep)")
            if time.monotonic() > deadline:
                lifecycle.cancel(test_id, ACTOR, "hc run gave up waiting")
                raise InfrastructureError(f"test {test_id} did not end within {timeout:.0f} s")
            time.sleep(1.0)
    finally:
        progress.done()


def _judge(test_id: int, thresholds, args, duration: float) -> int:
    summary.refresh(test_id)
    result = results_module.from_database(test_id)
    verdicts = [thresholds_module.evaluate(t, result.jobs) for t in thresholds]
    failed = result.state != TestState.COMPLETED.value or not all(v.passed for v in verdicts)
    exit_code = 1 if failed else 0
    _print_summary(result, verdicts)
    if args.junit:
        _write(args.junit, junit_xml(result, verdicts, duration))
    if args.report:
        _write(args.report, html_report(result, verdicts, exit_code))
    print(f"verdict: {'PASS' if exit_code == 0 else 'FAIL'} (exit {exit_code})")
    return exit_code


def _print_summary(result, verdicts) -> None:
    print(f"test {result.test_id}: {result.state} ({result.state_reason})")
    rows = []
    for site in result.sites + [None]:
        counts = result.counts(site)
        rows.append([site or "all sites", sum(counts.values()), counts["completed"],
                     counts["failed"], counts["killed"], counts["lost"],
                     percent(result.efficiency(site))])
    print(table(["site", "jobs", "completed", "failed", "killed", "lost", "efficiency"], rows))
    if verdicts:
        print(table(["threshold", "measured", "verdict"],
                    [[v.threshold.text, v.detail, "pass" if v.passed else "FAIL"]
                     for v in verdicts]))


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(text)
    except OSError as error:
        print(f"hc: cannot write {path}: {error.strerror}", file=sys.stderr)
        raise InfrastructureError(f"cannot write {path}") from error
