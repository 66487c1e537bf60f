"""States: every allowed test transition works, every other one is refused and changes nothing."""
from __future__ import annotations

import time

import pytest

from appliance import lifecycle
from appliance.lifecycle import TransitionRefused
from appliance.models import Test, TestLog
from appliance.states import (
    JOB_ACTIVE,
    JOB_FINAL,
    JOB_TRANSITIONS,
    TEST_FINAL,
    TEST_TRANSITIONS,
    JobState,
    TestState,
)
from tests.factories import make_template

ALL_PAIRS = [(a, b) for a in TestState for b in TestState]


def test_groups_partition_the_states():
    assert set(JobState) == JOB_ACTIVE | JOB_FINAL and not JOB_ACTIVE & JOB_FINAL
    for state in TEST_FINAL:
        assert TEST_TRANSITIONS[state] == frozenset()
    for state in JOB_FINAL:
        assert JOB_TRANSITIONS[state] == frozenset()


def test_every_state_has_a_transition_entry():
    assert set(TEST_TRANSITIONS) == set(TestState)
    assert set(JOB_TRANSITIONS) == set(JobState)


def _test_in(state: TestState) -> Test:
    template = make_template()
    test = lifecycle.create_test(template, time.time(), time.time() + 60, owner="alice")
    Test.update(state=state.value).where(Test.id == test.id).execute()
    return test


@pytest.mark.parametrize("source,target", ALL_PAIRS, ids=lambda s: s.value)
def test_transition_guard(db, source, target):
    test = _test_in(source)
    logs_before = TestLog.select().where(TestLog.test == test.id).count()
    if target in TEST_TRANSITIONS[source]:
        lifecycle.move_test(test.id, target, "alice", "because")
        assert Test.get_by_id(test.id).state == target.value
        line = TestLog.select().where(TestLog.test == test.id).order_by(TestLog.id.desc()).get()
        assert line.message == f"state -> {target.value}: because" and line.actor == "alice"
    else:
        with pytest.raises(TransitionRefused, match=f"is {source.value}: it cannot become"):
            lifecycle.move_test(test.id, target, "alice")
        assert Test.get_by_id(test.id).state == source.value
        assert TestLog.select().where(TestLog.test == test.id).count() == logs_before


def test_user_intents_follow_hammercloud(db):
    test = _test_in(TestState.DRAFT)
    with pytest.raises(TransitionRefused):
        lifecycle.approve(test.id, "admin")  # a draft must be sent for approval first
    lifecycle.send_for_approval(test.id, "alice")
    lifecycle.approve(test.id, "admin")
    assert Test.get_by_id(test.id).state == TestState.TOBESCHEDULED.value
    lifecycle.cancel(test.id, "alice")
    with pytest.raises(TransitionRefused):
        lifecycle.cancel(test.id, "alice")


def test_move_only_if_guard_blocks_the_loser_of_a_race(db):
    test = _test_in(TestState.SCHEDULED)
    Test.update(submit_host="b").where(Test.id == test.id).execute()
    with pytest.raises(TransitionRefused):
        lifecycle.move_test(test.id, TestState.SUBMITTING, "a", only_if=(Test.submit_host == "a"))
    assert Test.get_by_id(test.id).state == TestState.SCHEDULED.value


def test_unknown_test(db):
    with pytest.raises(TransitionRefused, match="does not exist"):
        lifecycle.cancel(12345, "alice")
