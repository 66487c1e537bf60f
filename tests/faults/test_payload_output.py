"""Payload output is not trusted: whatever a payload writes in its metrics or
status file costs only that job's record, never an agent or another test."""
from __future__ import annotations

import json
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance import payload
from appliance.agents.submit import SubmitAgent
from appliance.backends import SettingsError, make_backend
from appliance.backends.docker import _read_status as docker_status
from appliance.backends.local import read_status as local_status
from appliance.models import Job, Test
from appliance.reports import summary
from appliance.states import JobState, TestState
from tests.factories import make_running_test, make_site, make_template

JSON_ATOMS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(JSON_ATOMS, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=5),
                           max_leaves=30)
NASTY = st.sampled_from([b"NaN", b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}',
                         b'{"a": 1e999}', b'{"a": ' + b"9" * 5000 + b"}", b"[" * 100_000,
                         b'{"a": 1' + b"0" * 400 + b"}", b"\xff\xfe\x00", b"{}" * 50_000,
                         json.dumps({f"k{i}": i for i in range(1000)}).encode()])
CONTENTS = st.binary(max_size=300) | NASTY | JSON_VALUES.map(
    lambda v: json.dumps(v, allow_nan=True).encode())


def _finite_only(metrics) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(float(v))
               and (isinstance(v, float) or -2**63 <= v < 2**63)
               for v in (metrics or {}).values())


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=CONTENTS)
def test_any_metrics_file_gives_finite_numbers_or_a_reason(tmp_path, data):
    path = tmp_path / "metrics.json"
    path.write_bytes(data)
    metrics, problem = payload.read_metrics(str(path))
    assert (metrics is None) != (problem is None)
    assert _finite_only(metrics)
    json.dumps(metrics, allow_nan=False)  # storable as it is


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=CONTENTS | st.binary(max_size=100).map(lambda b: b + b"\n\n\nend\n")
       | st.text(max_size=30).map(lambda t: f"exit {t}\n0m0s 0m0s\n{t}\nend\n".encode()))
def test_any_status_file_gives_a_status_or_none(tmp_path, data):
    (tmp_path / "status").write_bytes(data)
    for read in (local_status, docker_status):
        status = read(str(tmp_path))
        if status is not None:
            assert status.exit_code is None or -1 <= status.exit_code <= 255
            assert status.cpu_seconds is None or math.isfinite(status.cpu_seconds)
            if status.state is JobState.FAILED:
                assert status.reason


def test_a_huge_status_file_is_a_failed_job(tmp_path):
    (tmp_path / "status").write_bytes(b"exit 0\n" * 100_000)
    status = local_status(str(tmp_path))
    assert status.state is JobState.FAILED and "larger than" in status.reason


@pytest.mark.parametrize("metrics", [{"x": math.nan}, {"x": math.inf}, {"x": 10**400}])
def test_a_simulated_site_refuses_non_finite_metrics(metrics):
    with pytest.raises(SettingsError, match="finite"):
        make_backend("fake", {"metrics": metrics})


@pytest.mark.parametrize("setting", ["run_seconds", "queue_seconds", "failure_rate"])
def test_a_simulated_site_refuses_non_finite_numbers(setting):
    with pytest.raises(SettingsError, match="finite"):
        make_backend("fake", {setting: math.nan})


BAD_PAYLOADS = {
    "nan-metrics": 'echo \'{"x": NaN}\' > "$HC_METRICS_FILE"',
    "infinite-metrics": 'echo \'{"x": 1e999}\' > "$HC_METRICS_FILE"',
    "deep-metrics": 'head -c 200000 /dev/zero | tr "\\0" "[" > "$HC_METRICS_FILE"',
    "bytes-metrics": 'head -c 3000 /dev/urandom > "$HC_METRICS_FILE"',
}


def test_bad_payload_output_fails_its_jobs_and_nothing_else(db, settings):
    """Real local jobs writing garbage beside a good test: the good one is untouched,
    summaries and pages still work, and the bad jobs say why they failed."""
    agent = SubmitAgent(settings.replace(poll_interval=0.1))
    now = time.time()  # not the module's T0: a full run reaches this test long after import
    good = make_running_test(make_template(sites=[make_site(backend="local")],
                                           load={"max_running": 2, "resubmit": False},
                                           command='echo \'{"x": 1.5}\' > "$HC_METRICS_FILE"'),
                             agent.host, now)
    bad = [make_running_test(make_template(sites=[make_site(backend="local")],
                                           load={"max_running": 1, "resubmit": False},
                                           command=command), agent.host, now)
           for command in BAD_PAYLOADS.values()]
    # A payload that writes garbage where the wrapper writes its status file.
    overwrite = make_running_test(make_template(
        sites=[make_site(backend="local")], load={"max_running": 1, "resubmit": False},
        command="printf 'exit what\\n\\0\\n\\nend\\n' > status; sleep 1"), agent.host, now)
    deadline = time.time() + 20
    while time.time() < deadline:
        agent.loop_once(time.time())
        if all(Test.get_by_id(t.id).state == TestState.COMPLETED.value
               for t in [good, *bad, overwrite]):
            break
        time.sleep(0.1)
    good_jobs = list(Job.select().where(Job.test == good.id))
    assert {j.state for j in good_jobs} == {"completed"}
    assert all(j.metrics == {"x": 1.5} for j in good_jobs)
    for test in bad:
        (job,) = Job.select().where(Job.test == test.id)
        assert job.state == "failed" and job.metrics is None, job.reason
        assert "metrics file" in job.reason
    (job,) = Job.select().where(Job.test == overwrite.id)
    assert job.state == "failed" and "status file is malformed" in job.reason
    for test in [good, *bad, overwrite]:
        assert summary.refresh(test.id, time.time(), final=True)["jobs_total"] >= 1
