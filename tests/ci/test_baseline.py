"""`hc run --baseline`: baseline thresholds parsed strictly, judged with the compare
page's statistics, shown in the JUnit and HTML reports."""
from __future__ import annotations

import json

import numpy as np
import pytest

from appliance.ci import baseline
from appliance.ci.junit import junit_xml
from appliance.ci.report import html_report
from appliance.ci.results import RunResult, to_dict
from appliance.ci.thresholds import JobRecord, ThresholdError
from appliance.cli import main


def _result(test_id: int, walls: dict[str, float], seed: int, jobs: int = 60) -> RunResult:
    rng = np.random.default_rng(seed)
    records = [JobRecord(site, "completed", float(w), float(w) * 0.8, 2.0,
                         {"events_per_s": float(1000 / w)})
               for site, median in walls.items()
               for w in median * np.exp(rng.normal(0, 0.1, jobs))]
    return RunResult(test_id, "completed", "", "t", 1.8e9, 1.8e9 + 600, sorted(walls),
                     jobs=records)


OLD = _result(1, {"a": 100.0, "b": 100.0}, seed=1)
SAME = _result(2, {"a": 100.0, "b": 100.0}, seed=2)
SLOWER_B = _result(3, {"a": 100.0, "b": 130.0}, seed=3)


def _judge(text: str, new: RunResult):
    threshold = baseline.parse(text)
    return baseline.evaluate(threshold, OLD, new, baseline.compare(OLD, new))


@pytest.mark.parametrize("text, passes_same, passes_slower", [
    ("p95(wall) not worse than baseline by 10%", True, False),
    ("site:a:p95(wall) not worse than baseline by 10%", True, True),
    ("median(metric:events_per_s) not lower than baseline by 5%", True, False),
    ("wall not significantly worse", True, False),
    ("site:a:wall not significantly worse", True, True),
    ("metric:events_per_s not significantly lower", True, False),
    ("all not significantly worse", True, False),
    ("efficiency not significantly worse", True, True),
])
def test_baseline_thresholds(text, passes_same, passes_slower):
    assert _judge(text, SAME).passed is passes_same
    slower = _judge(text, SLOWER_B)
    assert slower.passed is passes_slower, slower.detail
    if not passes_slower and "significantly" in text:
        assert "b wall" in slower.detail or "b metric:events_per_s" in slower.detail
        assert "a " not in slower.detail.split(":", 1)[1]


@pytest.mark.parametrize("text, message", [
    ("p95(wal) not worse than baseline by 10%", "unknown field"),
    ("failed not worse than baseline by 10%", "a function of a field"),
    ("count(wall) not worse than baseline by 10%", "a function of a field"),
    ("mean(metric:answer) not worse than baseline by 10%", "which way metric:answer is better"),
    ("speed not significantly faster", "not a baseline threshold"),
    ("bogus not significantly worse", "unknown figure"),
])
def test_bad_baseline_thresholds_are_refused(text, message):
    with pytest.raises(ThresholdError, match=message):
        baseline.parse(text)


def test_the_reports_show_the_comparison():
    comparison = baseline.compare(OLD, SLOWER_B)
    verdict = _judge("wall not significantly worse", SLOWER_B)
    xml = junit_xml(SLOWER_B, [verdict], 1.0, comparison)
    assert "compared with baseline test 1" in xml and "b wall: worse" in xml
    page = html_report(SLOWER_B, [verdict], 1, comparison)
    assert "Compared with baseline test 1" in page and "<td class=fail>worse</td>" in page


def test_a_baseline_file_is_an_export(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(to_dict(OLD)))
    assert baseline.load_file(str(path)).jobs == OLD.jobs
    path.write_text('{"test_id": 1}')
    with pytest.raises(Exception, match="not a test export"):
        baseline.load_file(str(path))


def test_hc_run_refuses_bad_baseline_use(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HC_DATA_DIR", str(tmp_path))
    template = tmp_path / "t.yaml"
    template.write_text("name: t\nsites: [x]\nsite_definitions: [{name: x, backend: fake}]\n"
                        "job: {command: 'true'}\n")
    cases = [
        (["--threshold", "wall not significantly worse"], "give --baseline"),
        (["--baseline", "5"], "a throwaway instance starts empty"),
        (["--baseline", str(tmp_path / "missing.json")], "No such file"),
        (["--baseline", str(template), "--threshold", "p95(wal) not worse than baseline by 1%"],
         "unknown field"),
    ]
    for extra, message in cases:
        assert main(["run", str(template), "--wait", *extra]) == 2
        assert message in capsys.readouterr().err
