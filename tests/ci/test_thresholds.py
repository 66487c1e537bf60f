"""Threshold expressions: strict parsing, exact evaluation, no silent passes."""
from __future__ import annotations

import pytest

from appliance.ci.thresholds import JobRecord, ThresholdError, evaluate, parse, parse_all


def _jobs():
    return [JobRecord("a", "completed", 10.0, 5.0, 1.0, {"rate": 40}),
            JobRecord("a", "completed", 20.0, 5.0, 3.0, {"rate": 60}),
            JobRecord("b", "failed", 400.0, 1.0, 2.0, {}),
            JobRecord("b", "killed", None, None, None, {})]


@pytest.mark.parametrize("text,actual,passed", [
    ("efficiency>=0.95", 2 / 3, False),
    ("efficiency>=60%", 2 / 3, True),
    ("error_rate<=0.5", 1 / 3, True),
    ("failed==0", 1, False),
    ("total==4", 4, True),
    ("killed<2", 1, True),
    ("p95(wall)<=300s", 400, False),
    ("p50(wall)<=20", 20, True),
    ("max(wall)<=7m", 400, True),
    ("mean(metric:rate)>=50", 50, True),
    ("site:a:efficiency==1", 1, True),
    ("site:b:failed==0", 1, False),
    ("mean(queue)<=2s", 2, True),
    ("count(metric:rate)>=2", 2, True),
    ("sum(cpu)==11", 11, True),
])
def test_evaluation(text, actual, passed):
    verdict = evaluate(parse(text), _jobs())
    assert verdict.actual == pytest.approx(actual)
    assert verdict.passed is passed


@pytest.mark.parametrize("text,message", [
    ("efficency>=0.9", "unknown quantity 'efficency'"),
    ("p95(wal)<=3", "unknown field 'wal'"),
    ("p97(wall)<=3", "unknown function 'p97'"),
    ("avg(wall)<=3", "unknown function 'avg'"),
    ("failed=0", "not a threshold"),
    ("failed==zero", "'zero' is not a number"),
    ("p95(wall)<=3 parsecs", "not a threshold"),
    ("site::failed==0", "not a threshold"),
])
def test_misspelt_thresholds_are_errors(text, message):
    with pytest.raises(ThresholdError) as error:
        parse(text)
    assert message in str(error.value)


def test_site_must_be_in_the_test():
    with pytest.raises(ThresholdError, match="site 'c' is not in the test"):
        parse_all(["site:c:failed==0"], known_sites=["a", "b"])


def test_missing_data_fails_rather_than_passes():
    verdict = evaluate(parse("mean(metric:nonexistent)>=0"), _jobs())
    assert not verdict.passed and verdict.detail == "no job reported metric:nonexistent"
    verdict = evaluate(parse("site:b:efficiency>=0"), [JobRecord("b", "killed", None, None,
                                                                 None, {})])
    assert not verdict.passed and "undefined" in verdict.detail
