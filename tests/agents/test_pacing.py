"""Job making paced to the poll interval (appliance/agents/pacing.py): an iteration makes
the jobs that fit before its sites are due again, at the cost per job it learnt, at
least a share of the interval however long polling took, and at least one job while
any time is left."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from appliance.agents.pacing import MIN_CYCLE, MIN_SHARE, Pace


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_jobs_are_made_until_the_poll_interval_has_passed():
    clock = Clock()
    pace = Pace(clock)
    pace.start_iteration()
    assert pace.allowed(500, 1.0) == 500, "nothing learnt yet: not held back"
    pace.spent(100, 0.2)  # 2 ms a job
    clock.now += 0.2
    assert pace.allowed(500, 1.0) in (399, 400)  # 0.8 s left of the interval (rounded down)
    clock.now += 0.8
    pace.spent(400, 0.8)
    assert pace.allowed(500, 1.0) == 0
    pace.start_iteration()
    clock.now += 0.5  # polls took 0.5 s of the next interval
    assert pace.allowed(500, 1.0) in (249, 250)


def test_polls_longer_than_the_interval_still_leave_a_share_for_new_jobs():
    clock = Clock()
    pace = Pace(clock)
    pace.start_iteration()
    pace.spent(10, 0.01)
    pace.start_iteration()
    clock.now += 5.0  # polling 100,000 jobs took longer than the interval
    assert abs(pace.allowed(1000, 1.0) - MIN_SHARE / 0.001) <= 1
    pace.spent(int(MIN_SHARE / 0.001), MIN_SHARE)
    assert pace.allowed(1000, 1.0) == 0


def test_a_slow_backend_still_makes_one_job_an_iteration_and_short_intervals_are_raised():
    clock = Clock()
    pace = Pace(clock)
    pace.start_iteration()
    pace.spent(1, 0.4)  # a CE answering in 0.4 s a job
    assert pace.allowed(10, 30.0) == 10 and pace.allowed(0, 30.0) == 0
    clock.now += 0.4
    assert pace.allowed(10, 0.05) == 1, f"a 0.05 s interval counts as {MIN_CYCLE} s"


@given(per_job=st.floats(1e-5, 0.05), polls=st.floats(0, 3), cycle=st.floats(0.5, 5),
       demands=st.lists(st.integers(1, 500), min_size=1, max_size=40))
def test_at_a_steady_cost_an_iteration_ends_on_time(per_job, polls, cycle, demands):
    clock = Clock()
    pace = Pace(clock)
    pace.start_iteration()
    pace.spent(1, per_job)  # learnt in an earlier iteration
    for _ in range(3):
        pace.start_iteration()
        began = clock.now
        clock.now += polls
        asked = 0
        for wanted in demands:
            count = pace.allowed(wanted, cycle)
            assert 0 <= count <= wanted
            pace.spent(count, count * per_job)
            clock.now += count * per_job
            asked += wanted
        making = clock.now - began - polls
        budget = max(cycle - polls, MIN_SHARE * cycle)
        # Over by at most the one job a nearly spent budget still allows; short of it only
        # when the sites wanted fewer jobs than fit.
        assert making <= budget + per_job + 1e-9
        assert making >= min(budget - per_job, asked * per_job) - 1e-9
