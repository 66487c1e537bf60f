"""Test and job states, their groups and the transitions allowed between them.

This module imports nothing of the appliance: agents, web, CLI and templates all
read the same names from here. A transition not listed here is refused.
"""
from enum import StrEnum


class TestState(StrEnum):
    DRAFT = "draft"
    UNAPPROVED = "unapproved"
    TOBESCHEDULED = "tobescheduled"
    SCHEDULED = "scheduled"
    SUBMITTING = "submitting"
    RUNNING = "running"
    COMPLETED = "completed"
    ERROR = "error"
    CANCELLED = "cancelled"

    __test__ = False  # not a pytest class, despite the name


class JobState(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    KILLED = "killed"
    LOST = "lost"


TEST_FINAL = frozenset({TestState.COMPLETED, TestState.ERROR, TestState.CANCELLED})
# A submit agent owns a test in these states: it has work to do for it.
TEST_ON_SUBMIT_HOST = frozenset({TestState.SCHEDULED, TestState.SUBMITTING, TestState.RUNNING})
TEST_ACTIVE = TEST_ON_SUBMIT_HOST
TEST_EDITABLE = frozenset({TestState.DRAFT, TestState.UNAPPROVED})

JOB_FINAL = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.KILLED, JobState.LOST})
JOB_ACTIVE = frozenset({JobState.PENDING, JobState.SUBMITTED, JobState.QUEUED, JobState.RUNNING})
# Jobs the backend knows about, which a poll can report on.
JOB_AT_BACKEND = frozenset({JobState.SUBMITTED, JobState.QUEUED, JobState.RUNNING})
JOB_WAITING = frozenset({JobState.PENDING, JobState.SUBMITTED, JobState.QUEUED})

_T = TestState
TEST_TRANSITIONS: dict[TestState, frozenset[TestState]] = {
    _T.DRAFT: frozenset({_T.UNAPPROVED, _T.CANCELLED}),
    _T.UNAPPROVED: frozenset({_T.TOBESCHEDULED, _T.DRAFT, _T.CANCELLED}),
    _T.TOBESCHEDULED: frozenset({_T.SCHEDULED, _T.CANCELLED, _T.ERROR}),
    # scheduled -> scheduled is a move to another submit host.
    _T.SCHEDULED: frozenset({_T.SCHEDULED, _T.SUBMITTING, _T.CANCELLED, _T.ERROR}),
    _T.SUBMITTING: frozenset({_T.RUNNING, _T.COMPLETED, _T.CANCELLED, _T.ERROR}),
    _T.RUNNING: frozenset({_T.COMPLETED, _T.CANCELLED, _T.ERROR}),
    _T.COMPLETED: frozenset(),
    _T.ERROR: frozenset(),
    _T.CANCELLED: frozenset(),
}

_J = JobState
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    _J.PENDING: frozenset({_J.SUBMITTED, _J.QUEUED, _J.RUNNING, _J.COMPLETED, _J.FAILED,
                           _J.KILLED, _J.LOST}),
    _J.SUBMITTED: frozenset({_J.QUEUED, _J.RUNNING, _J.COMPLETED, _J.FAILED, _J.KILLED, _J.LOST}),
    _J.QUEUED: frozenset({_J.RUNNING, _J.COMPLETED, _J.FAILED, _J.KILLED, _J.LOST}),
    _J.RUNNING: frozenset({_J.COMPLETED, _J.FAILED, _J.KILLED, _J.LOST}),
    _J.COMPLETED: frozenset(),
    _J.FAILED: frozenset(),
    _J.KILLED: frozenset(),
    _J.LOST: frozenset(),
}


def test_sources(target: TestState) -> frozenset[TestState]:
    """States from which a test may move to `target`."""
    return frozenset(s for s, targets in TEST_TRANSITIONS.items() if target in targets)


def job_sources(target: JobState) -> frozenset[JobState]:
    """States from which a job may move to `target`."""
    return frozenset(s for s, targets in JOB_TRANSITIONS.items() if target in targets)


test_sources.__test__ = False


class SiteStatus(StrEnum):
    ONLINE = "online"
    TEST = "test"
    EXCLUDED = "excluded"
    OFFLINE = "offline"


class Category(StrEnum):
    FUNCTIONAL = "functional"
    STRESS = "stress"


class Severity(StrEnum):
    """HammerCloud's test log severities."""
    BLACKLISTING = "blacklisting"
    WHITELISTING = "whitelisting"
    DEBUG = "debug"
    WARNING = "warning"
    ERROR = "error"
    TESTINFO = "testinfo"
    QUEUECONTROL = "queuecontrol"
    OTHER = "other"


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"
