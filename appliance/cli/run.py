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

from appliance import registry
from appliance.ci import baseline as baseline_module
from appliance.ci import thresholds as thresholds_module
from appliance.ci.junit import junit_xml
from appliance.ci.progress import Progress
from appliance.ci.remote import RemoteSource
from appliance.ci.report import html_report
from appliance.ci.sources import ContainerSource, InfrastructureError, LocalSource
from appliance.cli.output import percent, table
from appliance.config import parse_duration
from appliance.documents import SpecError, check_site, parse_document
from appliance.states import TEST_FINAL, TestState
from appliance.throwaway import DEFAULT_IMAGE

EXIT_CODES = ("exit codes: 0 every threshold holds; 1 a threshold failed or the test ended in "
              "error or was cancelled; 2 usage or infrastructure error")
__all__ = ["InfrastructureError", "add_commands"]


def add_commands(commands) -> None:
    run = commands.add_parser("run", help="run a test, wait, and judge it by thresholds (CI)",
                              description=__doc__.split("\n\n")[0], epilog=EXIT_CODES)
    run.add_argument("template", help="a template file (YAML/JSON; may define its sites under "
                     "site_definitions)")
    run.add_argument("--site", dest="sites", action="append", help="only these sites")
    run.add_argument("--duration", help="e.g. 5m; default: the template's")
    run.add_argument("--image", help="container image for the payload, REGISTRY/NAME:TAG or "
                     "NAME@sha256:... (Docker sites; Slurm and ARC sites with a container "
                     "runtime)")
    run.add_argument("--wait", action="store_true", help="wait for the end and judge it")
    run.add_argument("--threshold", dest="thresholds", action="append", default=[],
                     metavar="EXPR", help="e.g. efficiency>=0.95, failed==0, p95(wall)<=300s, "
                     "mean(metric:NAME)>=50, site:NAME:failed==0")
    run.add_argument("--baseline", metavar="TEST_ID|FILE",
                     help="judge against an earlier test: its id on the --url instance, or "
                     "a file from `hc test export ID`; adds thresholds such as 'p95(wall) "
                     "not worse than baseline by 10%%' or 'metric:NAME not significantly "
                     f"lower' (default: '{baseline_module.DEFAULT}')")
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    run.add_argument("--report", metavar="FILE", help="write a self-contained HTML report here")
    run.add_argument("--url", default=os.environ.get("HC_URL"),
                     help="a running instance (token in HC_TOKEN; default $HC_URL); TEMPLATE "
                     "may then be the name of one of its templates")
    run.add_argument("--instance", choices=["local", "container"], default="local",
                     help="where the throwaway instance runs: local processes (default) or "
                     "a container of the appliance image")
    run.add_argument("--appliance-image", default=DEFAULT_IMAGE,
                     help=f"image for --instance container (default {DEFAULT_IMAGE})")
    run.add_argument("--keep", action="store_true", help="keep the throwaway instance")
    run.add_argument("--timeout", help="give up waiting after this long (default: the test's "
                     "duration plus 10m)")
    run.set_defaults(run=run_command)


def run_command(args, settings) -> int:
    plain_texts, baseline_texts = baseline_module.split(args.thresholds)
    thresholds = thresholds_module.parse_all(plain_texts)
    against = _baseline_thresholds(args, baseline_texts)
    if (thresholds or against or args.junit or args.report) and not args.wait:
        raise SpecError("--threshold, --baseline, --junit and --report need --wait")
    baseline = _baseline_file(args)
    named = args.url is not None and not os.path.isfile(args.template)
    document, site_definitions = (None, []) if named else _load_document(args)
    started = time.monotonic()
    with _source(args, site_definitions, named) as source:
        if named:
            duration = source.template_duration(args.template)
            template = args.template
        else:
            for site in site_definitions:
                source.define_site(site)
            template = source.add_template(document)
            duration = parse_duration(str(document.get("duration", "1h")))
        test_id, sites = source.create_test(template, args.sites)
        # Site-scoped thresholds are checked against the test before any job is sent.
        thresholds_module.parse_all(plain_texts, known_sites=sites)
        _check_sites(against, sites)
        if args.baseline and baseline is None:
            baseline = source.result(int(args.baseline))
        source.approve(test_id)
        print(f"test {test_id} created in {source.describe()}", flush=True)
        if not args.wait:
            return 0
        _wait(source, test_id, _timeout(args, duration))
        return _judge(source.result(test_id), thresholds, args, time.monotonic() - started,
                      baseline, against)


def _baseline_thresholds(args, texts: list[str]) -> list:
    if texts and not args.baseline:
        raise SpecError(f"{texts[0]!r} compares with a baseline: give --baseline TEST_ID|FILE")
    if args.baseline and not texts:
        texts = [baseline_module.DEFAULT]
    return [baseline_module.parse(text) for text in texts]


def _baseline_file(args):
    """The baseline read from its file now (a test id is read from the instance later)."""
    if not args.baseline:
        return None
    if baseline_module.is_file(args.baseline):
        return baseline_module.load_file(args.baseline)
    if args.url is None:
        raise SpecError(f"--baseline {args.baseline}: a throwaway instance starts empty; give "
                        "--url of the instance holding that test, or a file from `hc test "
                        "export ID`")
    return None


def _check_sites(against: list, sites: list[str]) -> None:
    for threshold in against:
        if threshold.site and threshold.site not in sites:
            raise SpecError(f"{threshold.text!r}: site {threshold.site!r} is not in the test; "
                            f"its sites: {', '.join(sites)}")


def _source(args, site_definitions: list, named: bool):
    if args.url is not None:
        overrides = {}
        if named and args.duration:
            overrides["duration"] = args.duration
        if named and args.image:
            overrides["image"] = registry.pin_for_test(args.image)
        return RemoteSource(args.url, os.environ.get("HC_TOKEN", ""), overrides)
    if args.instance == "container":
        docker_sites = any(site.get("backend") == "docker" for site in site_definitions)
        return ContainerSource(args.appliance_image, args.keep, docker_sites)
    return LocalSource(args.keep)


def _load_document(args) -> tuple[dict, list]:
    if not os.path.isfile(args.template):
        raise SpecError(f"{args.template}: no such template file (a throwaway instance starts "
                        "empty, so give the template as a file; with --url, a template name "
                        "of that instance works too)")
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
    if isinstance(document.get("job"), dict) and isinstance(document["job"].get("image"), str):
        # Resolved here, where the registry is reachable as the pipeline named it (a
        # container instance may not reach 127.0.0.1:PORT); the instance keeps the digest.
        document["job"]["image"] = registry.pin_for_test(document["job"]["image"])
    return document, site_definitions


def _timeout(args, duration: float) -> float:
    if args.timeout:
        return parse_duration(args.timeout)
    return duration + 600


def _wait(source, test_id: int, timeout: float) -> None:
    progress = Progress()
    deadline = time.monotonic() + timeout
    try:
        while True:
            state, counts = source.progress(test_id)
            progress.show(state, {k.removeprefix("jobs_"): v for k, v in counts.items()
                                  if k != "jobs_total"})
            if TestState(state) in TEST_FINAL:
                return
            if time.monotonic() > deadline:
                source.cancel(test_id, "hc run gave up waiting")
                raise InfrastructureError(f"test {test_id} did not end within {timeout:.0f} s")
            time.sleep(1.0)
    finally:
        progress.done()


def _judge(result, thresholds, args, duration: float, baseline=None, against=()) -> int:
    verdicts = [thresholds_module.evaluate(t, result.jobs) for t in thresholds]
    comparison = None
    if baseline is not None:
        comparison = baseline_module.compare(baseline, result)
        verdicts += [baseline_module.evaluate(t, baseline, result, comparison) for t in against]
    failed = result.state != TestState.COMPLETED.value or not all(v.passed for v in verdicts)
    exit_code = 1 if failed else 0
    _print_summary(result, verdicts)
    if comparison is not None:
        _print_comparison(comparison)
    if args.junit:
        _write(args.junit, junit_xml(result, verdicts, duration, comparison))
    if args.report:
        _write(args.report, html_report(result, verdicts, exit_code, comparison))
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


def _print_comparison(comparison: dict) -> None:
    differing = [r for r in comparison["rows"] if r["verdict"] != "no significant difference"]
    print(f"compared with baseline test {comparison['baseline']}: {len(comparison['rows'])} "
          f"rows, {len(differing)} differ")
    if differing:
        print(table(["site", "figure", "baseline median", "median", "verdict"],
                    [[r["site"], r["figure"], r["a"]["median"], r["b"]["median"], r["verdict"]]
                     for r in differing]))


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(text)
    except OSError as error:
        print(f"hc: cannot write {path}: {error.strerror}", file=sys.stderr)
        raise InfrastructureError(f"cannot write {path}") from error
