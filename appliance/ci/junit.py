"""JUnit XML for CI systems: one test case per site and one per threshold."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from appliance.ci.results import RunResult
from appliance.ci.thresholds import Verdict
from appliance.states import TestState


def junit_xml(result: RunResult, verdicts: list[Verdict], duration: float,
              comparison: dict | None = None) -> str:
    cases = [_test_state_case(result)]
    cases += [_site_case(result, site, verdicts) for site in result.sites]
    cases += [_threshold_case(verdict) for verdict in verdicts]
    if comparison is not None:
        cases.append(_comparison_case(comparison))
    failures = sum(1 for case in cases if case.find("failure") is not None)
    suite = ET.Element("testsuite", name=f"hc-run test {result.test_id} ({result.template})",
                       tests=str(len(cases)), failures=str(failures), errors="0",
                       time=f"{duration:.1f}")
    if result.image:
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="image", value=result.image)
        for digest in result.images_run:
            ET.SubElement(properties, "property", name="image_run", value=digest)
    suite.extend(cases)
    root = ET.Element("testsuites", name="hc-run", tests=str(len(cases)),
                      failures=str(failures), errors="0", time=f"{duration:.1f}")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _case(classname: str, name: str, failure: str | None, output: str) -> ET.Element:
    case = ET.Element("testcase", classname=classname, name=name, time="0")
    if failure:
        ET.SubElement(case, "failure", message=failure, type="threshold").text = failure
    ET.SubElement(case, "system-out").text = output
    return case


def _test_state_case(result: RunResult) -> ET.Element:
    failure = None if result.state == TestState.COMPLETED else \
        f"test ended {result.state}: {result.state_reason}"
    return _case("hc-run.test", f"test {result.test_id} completes", failure,
                 f"state {result.state} ({result.state_reason})")


def _site_case(result: RunResult, site: str, verdicts: list[Verdict]) -> ET.Element:
    failed = [v for v in verdicts if v.threshold.site == site and not v.passed]
    counts = result.counts(site)
    summary = ", ".join(f"{state} {number}" for state, number in counts.items() if number)
    failure = "; ".join(f"{v.threshold.text}: {v.detail}" for v in failed) or None
    return _case("hc-run.sites", site, failure, summary or "no jobs")


def _comparison_case(comparison: dict) -> ET.Element:
    """The comparison with the baseline, row by row (the baseline thresholds judge it)."""
    lines = [f"{r['site']} {r['figure']}: {r['verdict']} (baseline median {r['a']['median']}, "
             f"now {r['b']['median']}, p corrected {r['p_adjusted']})" for r in comparison["rows"]]
    return _case("hc-run.baseline", f"compared with baseline test {comparison['baseline']}",
                 None, "\n".join(lines) or "no site in both tests")


def _threshold_case(verdict: Verdict) -> ET.Element:
    return _case("hc-run.thresholds", verdict.threshold.text,
                 None if verdict.passed else verdict.detail, verdict.detail)
