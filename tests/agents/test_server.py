"""The server agent's duties, with a fixed clock."""
from __future__ import annotations

import pytest

from appliance.agents.runner import Heartbeat
from appliance.agents.server import ServerAgent
from appliance.models import Test, TestLog
from appliance.states import TestState
from tests.factories import make_running_test, make_site, make_template

T0 = 1_900_000_000.0


@pytest.fixture
def server(db, settings):
    return ServerAgent(settings)


def _submit_host(host: str, now: float, load: int = 0) -> None:
    heartbeat = Heartbeat("submit", host, 5)
    heartbeat.start(now)
    heartbeat.beat(now, load, force=True)


def _functional(**fields):
    return make_template(category="functional", duration="1h", **fields)


def test_one_live_test_per_active_functional_template(server):
    template = _functional()
    make_template()  # a stress template: never created automatically
    inactive = _functional(active=False)
    server.create_functional_tests(T0)
    server.create_functional_tests(T0 + 10)
    tests = list(Test.select())
    assert len(tests) == 1
    assert tests[0].template_id == template.id and tests[0].state == TestState.TOBESCHEDULED.value
    assert tests[0].start_at == T0 and tests[0].end_at == T0 + 3600
    assert not Test.select().where(Test.template == inactive.id).exists()


def test_next_functional_test_follows_the_previous_one(server):
    template = _functional()
    first = server.create_functional_tests(T0)[0]
    Test.update(state=TestState.COMPLETED.value).where(Test.id == first.id).execute()
    second = server.create_functional_tests(T0 + 100)[0]
    assert second.start_at == first.end_at, "completed early: the next starts when it was due"
    Test.update(state=TestState.COMPLETED.value).where(Test.id == second.id).execute()
    third = server.create_functional_tests(T0 + 9000)[0]
    assert third.start_at == T0 + 9000
    assert Test.select().where(Test.template == template.id).count() == 3


def test_assignment_prefers_the_least_loaded_live_host(server):
    _submit_host("busy", T0, load=50)
    _submit_host("idle", T0, load=0)
    _submit_host("dead", T0 - 3600, load=0)
    template = make_template(load={"max_running": 10})
    tests = [make_running_test(template, None, T0) for _ in range(3)]
    Test.update(state=TestState.TOBESCHEDULED.value, submit_host=None).execute()
    assert server.assign_tests(T0) == 3
    hosts = [Test.get_by_id(t.id).submit_host for t in tests]
    # idle takes tests until its expected load passes busy's 50: 3 tests x 10 = 30.
    assert hosts == ["idle", "idle", "idle"]
    assert all(Test.get_by_id(t.id).state == TestState.SCHEDULED.value for t in tests)


def test_assignment_spreads_by_expected_load(server):
    _submit_host("a", T0)
    _submit_host("b", T0)
    template = make_template(load={"max_running": 10})
    tests = [make_running_test(template, None, T0) for _ in range(4)]
    Test.update(state=TestState.TOBESCHEDULED.value, submit_host=None).execute()
    server.assign_tests(T0)
    hosts = sorted(Test.get_by_id(t.id).submit_host for t in tests)
    assert hosts == ["a", "a", "b", "b"]


def _second_test_host(server, load_a: int, load_b: int) -> str:
    """Hosts a and b beating with these loads, a first test (10 jobs in flight) already
    running on a: where the server puts a second one."""
    _submit_host("a", T0, load=load_a)
    _submit_host("b", T0, load=load_b)
    template = make_template(load={"max_running": 10})
    first, second = (make_running_test(template, None, T0) for _ in range(2))
    Test.update(state=TestState.TOBESCHEDULED.value, submit_host=None).execute()
    Test.update(state=TestState.RUNNING.value, submit_host="a").where(
        Test.id == first.id).execute()
    server.assign_tests(T0)
    return Test.get_by_id(second.id).submit_host


def test_assignment_counts_a_running_test_before_the_heartbeat_shows_it(server):
    # The role-split race: the first test went running on "a" while a's heartbeat still
    # said 0 jobs; the second test must go to "b", not to "a" by name order.
    assert _second_test_host(server, load_a=0, load_b=0) == "b"


def test_assignment_does_not_count_a_host_twice(server):
    # The heartbeat and the committed load describe the same jobs: the larger one counts.
    assert _second_test_host(server, load_a=10, load_b=15) == "a", "a: 10 jobs, not 20"


def test_no_live_host_leaves_tests_waiting(server):
    template = make_template()
    test = make_running_test(template, None, T0)
    Test.update(state=TestState.TOBESCHEDULED.value).execute()
    assert server.assign_tests(T0) == 0
    assert Test.get_by_id(test.id).state == TestState.TOBESCHEDULED.value


def test_tests_whose_end_passed_unassigned_become_errors(server):
    _submit_host("a", T0)
    test = make_running_test(make_template(), None, T0 - 7200, duration=60)
    Test.update(state=TestState.TOBESCHEDULED.value).execute()
    server.assign_tests(T0)
    test = Test.get_by_id(test.id)
    assert test.state == TestState.ERROR.value and "end time passed" in test.state_reason


def test_tests_of_a_dead_host_move_to_a_live_one(server):
    _submit_host("gone", T0 - 600)
    _submit_host("alive", T0)
    test = make_running_test(make_template(), "gone", T0)
    Test.update(state=TestState.RUNNING.value).where(Test.id == test.id).execute()
    assert server.fail_over_dead_hosts(T0) == 1
    test = Test.get_by_id(test.id)
    assert test.submit_host == "alive" and test.state == TestState.RUNNING.value
    log = TestLog.select().where(TestLog.test == test.id).order_by(TestLog.id.desc()).get()
    assert log.message == "submit host gone stopped responding: moved to alive"
    assert server.fail_over_dead_hosts(T0) == 0


def test_loop_once_runs_every_duty_at_start(server):
    _submit_host("a", T0)
    _functional(sites=[make_site()])
    server.loop_once(T0)
    test = Test.get()
    assert test.state == TestState.SCHEDULED.value and test.submit_host == "a"


def test_a_failing_duty_does_not_stop_the_others(server, monkeypatch):
    _submit_host("a", T0)
    template = make_template()
    make_running_test(template, None, T0)
    Test.update(state=TestState.TOBESCHEDULED.value, submit_host=None).execute()

    def broken(now):
        raise RuntimeError("boom")
    monkeypatch.setattr(server, "create_functional_tests", broken)
    server.scheduler.clear()
    server.scheduler.every(1).seconds.do(server._run_duty, broken)
    server.scheduler.every(1).seconds.do(server._run_duty, server.assign_tests)
    server.run_all(T0)
    assert Test.get().state == TestState.SCHEDULED.value


def test_retention_is_a_scheduled_duty_of_the_server(db, settings):
    """The server agent applies retention on its own schedule (HC_RETENTION_INTERVAL):
    a finished test past HC_RETAIN_TEST_LOGS loses its log lines at the first pass;
    a pinned one, and one not yet old enough, keep theirs."""
    import time

    from appliance import lifecycle

    now = time.time()
    agent = ServerAgent(settings.replace(retention_interval=0.2, retain_test_logs=86400.0))
    template = make_template(sites=[make_site()])
    old, pinned, recent = (lifecycle.create_test(template, now - 3 * 86400, now - 2 * 86400,
                                                 "tester") for _ in range(3))
    for test, finished in ((old, now - 2 * 86400), (pinned, now - 2 * 86400),
                           (recent, now - 60)):
        Test.update(state=TestState.CANCELLED.value, finished_at=finished) \
            .where(Test.id == test.id).execute()
    Test.update(keep=True).where(Test.id == pinned.id).execute()
    lines = {t.id: TestLog.select().where(TestLog.test == t.id).count()
             for t in (old, pinned, recent)}
    assert all(lines.values())
    agent.loop_once(time.time())
    left = {t.id: TestLog.select().where(TestLog.test == t.id).count()
            for t in (old, pinned, recent)}
    assert left == {old.id: 0, pinned.id: lines[pinned.id], recent.id: lines[recent.id]}
