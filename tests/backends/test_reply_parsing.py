"""What batch systems and CEs print is outside input: whatever Slurm's squeue and
scontrol or an ARC CE's diag file hold, parsing never raises and never yields a
false record (an exit code outside 0-255, a time or CPU figure that is not a finite,
non-negative number)."""
from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from appliance import limits
from appliance.agents import jobbook
from appliance.backends import arc, arcrest, slurm
from appliance.backends.base import JobStatus
from appliance.states import JobState

values = st.one_of(st.text(max_size=30), st.sampled_from([
    "0:0", "1:0", "²:0", "99999999999999999999:0", "-1:0", "2026-11-22T16:57:53",
    "0001-01-01T00:00:00", "9999-12-31T23:59:59", "Unknown", "N/A", "COMPLETED",
    "FAILED", "CANCELLED+", "RUNNING", "PENDING", "TIMEOUT", "nan", "inf", "1e999"]))
keys = st.sampled_from(["JobId", "JobState", "ExitCode", "StartTime", "EndTime", "Reason",
                        "Other"])
scontrol_line = st.dictionaries(keys, values.filter(lambda v: not any(c.isspace() for c in v)),
                                max_size=7).map(
    lambda d: " ".join(f"{k}={v}" for k, v in d.items()))
squeue_line = st.lists(values.filter(lambda v: "|" not in v and "\n" not in v),
                       max_size=5).map("|".join)
diag_values = st.one_of(st.text(max_size=20), st.sampled_from(
    ["nan", "inf", "-inf", "1e999s", "-5s", "0.25s", "NaNs", "20261202122907Z", "99999999999999Z",
     "0", "-3", "300", "1" * 40]))


def _true_record(status: JobStatus) -> None:
    """What a parser hands on: the agent's record rule (tests below) bounds the rest."""
    assert isinstance(status.state, JobState)
    assert status.exit_code is None or (isinstance(status.exit_code, int)
                                        and 0 <= status.exit_code <= 999), status
    for moment in (status.started_at, status.ended_at, status.cpu_seconds):
        assert moment is None or math.isfinite(moment), status


@given(st.lists(st.one_of(scontrol_line, st.text(max_size=80)), max_size=5).map("\n".join))
def test_scontrol_output_of_any_shape(text):
    for status in slurm.parse_scontrol(text).values():
        _true_record(status)


@given(st.lists(st.one_of(squeue_line, st.text(max_size=80)), max_size=5).map("\n".join))
def test_squeue_and_sinfo_output_of_any_shape(text):
    for status in slurm.parse_squeue(text).values():
        _true_record(status)
    assert all(isinstance(v, str) for v in slurm.parse_sinfo(text).values())


@given(st.dictionaries(st.sampled_from(["exitcode", "UserTime", "KernelTime", "LRMSStartTime",
                                        "LRMSEndTime", "WallTime", "x"]), diag_values,
                       max_size=6),
       st.text(max_size=200))
def test_an_arc_diag_file_of_any_content(fields, noise):
    text = "\n".join(f"{k}={v}" for k, v in fields.items()) + "\n" + noise
    diag = arcrest.parse_diag(text)
    cpu = arc._cpu(diag)
    assert cpu is None or (math.isfinite(cpu) and cpu >= 0)
    for key in ("LRMSStartTime", "LRMSEndTime"):
        moment = arcrest.diag_time(diag.get(key))
        assert moment is None or math.isfinite(moment)
    seconds = arcrest.diag_seconds(diag.get("WallTime"))
    assert seconds is None or (math.isfinite(seconds) and seconds >= 0)
    code = arc._int(diag.get("exitcode"))
    assert code is None or isinstance(code, int)


NOW = 1_900_000_000.0
SUBMITTED = NOW - 600
numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(-2**70, 2**70), st.sampled_from([-1.0, 0.0, 1e300, NOW + 1e6]))


@given(st.sampled_from([JobState.COMPLETED, JobState.FAILED, JobState.KILLED, JobState.RUNNING]),
       numbers, numbers, numbers, numbers)
def test_the_record_of_any_reply_is_bounded(state, started, ended, cpu, exit_code):
    """Whatever numbers a backend reports, the job row written lies between the
    submission the agent timed and the latest time pages show, with a wall and CPU time
    that are finite and not negative, and an exit code the column holds."""
    job = jobbook.ActiveJob(1, JobState.QUEUED.value, "7", None, SUBMITTED, None, SUBMITTED,
                            1, "host")
    status = JobStatus(state, started_at=started, ended_at=ended, cpu_seconds=cpu,
                       exit_code=exit_code if isinstance(exit_code, int) else None)
    values = jobbook._final_values(job, status, NOW, "metrics.json")
    for column in ("started_at", "ended_at"):
        if column in values:
            assert SUBMITTED <= values[column] <= limits.LATEST_TIME, (column, values)
    if "wall_seconds" in values:
        assert 0 <= values["wall_seconds"] <= limits.LATEST_TIME - SUBMITTED
    assert values.get("cpu_seconds") is None or (math.isfinite(values["cpu_seconds"])
                                                 and values["cpu_seconds"] >= 0)
    assert values.get("exit_code") is None or -2**31 <= values["exit_code"] < 2**31
