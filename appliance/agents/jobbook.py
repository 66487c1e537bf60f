"""Writing job transitions to the database, each one guarded by the job's state.

Every write for a test begins with its lease (appliance/agents/lease.py): a node
that lost the test to another stops at once, writing nothing. The order that
makes crashes harmless: the job row is written (pending) and
committed before the backend is asked; the backend id is stored right after.
A guarded update that changes no row means someone else already decided the
job's fate (a cancel, another agent): the caller must not overrule it.
"""
from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass

from appliance import limits, payload, rollups, workarea, workers
from appliance.agents.lease import Lease, hold
from appliance.backends.base import JobSpec, JobStatus
from appliance.db import database, is_postgres
from appliance.errors import BadInput
from appliance.models import Job, Site, Test, TestSite
from appliance.states import JOB_ACTIVE, JOB_FINAL, TEST_FINAL, JobState, TestState, job_sources

# Backend-specific facts a JobStatus may carry in `extra` that have a Job column.
STORED_EXTRAS = ("image_digest",)
_ACTIVE_COLUMNS = (Job.id, Job.state, Job.backend_id, Job.work_dir, Job.submitted_at,
                   Job.started_at, Job.created_at, Job.attempt, Job.submit_host)


_SQLITE_WRITES = threading.Lock()


@contextlib.contextmanager
def _transaction():
    """One write transaction. On SQLite one at a time in this process: the submit
    agent's site threads would otherwise queue through SQLite's busy sleeps."""
    with contextlib.nullcontext() if is_postgres() else _SQLITE_WRITES, database.atomic():
        yield


@dataclass(slots=True)  # slots: an agent holds one per job in flight (100,000s)
class ActiveJob:
    id: int
    state: str
    backend_id: str | None
    work_dir: str | None
    submitted_at: float | None
    started_at: float | None
    created_at: float
    attempt: int
    submit_host: str | None = None  # the node that submitted it


_ACTIVE_STATES = tuple(sorted(s.value for s in JOB_ACTIVE))
_ACTIVE_SELECT = "SELECT " + ", ".join(f'"{f.column_name}"' for f in _ACTIVE_COLUMNS) \
    + ' FROM "job"'


def active_jobs(test_id: int, site_id: int | None = None) -> list[ActiveJob]:
    """Jobs of a test (optionally one site) that have not reached a final state.

    Read as plain rows (the columns need no conversion): the submit agent reads every
    active job of every site each iteration, and peewee's per-row work was a third of
    its time at 100,000 running jobs. The states are listed, not excluded, so that the
    (test, state, site) index finds them without passing the test's ended jobs."""
    where, params = _active_where(test_id, site_id)
    return [ActiveJob(*row) for row in database.execute_sql(f"{_ACTIVE_SELECT} {where}",
                                                            params)]


def active_fingerprint(test_id: int, site_id: int) -> tuple[int, int]:
    """(count, sum of ids) of a site's active jobs of a test: one pass over the
    (test, state, site) index, no rows sent (appliance/agents/keptjobs.py)."""
    where, params = _active_where(test_id, site_id)
    count, total = database.execute_sql(
        f'SELECT COUNT(*), COALESCE(SUM("id"), 0) FROM "job" {where}', params).fetchone()
    return int(count), int(total)  # PostgreSQL sums bigints as numeric


def _active_where(test_id: int, site_id: int | None) -> tuple[str, list]:
    """The WHERE clause (and its parameters) of a test's (or one site's) active jobs."""
    p = database.param
    where = f'WHERE "test_id" = {p} AND "state" IN ({", ".join([p] * len(_ACTIVE_STATES))})'
    params: list = [test_id, *_ACTIVE_STATES]
    if site_id is not None:
        where += f' AND "site_id" = {p}'
        params.append(site_id)
    return where, params


_BY_ID = 500  # ids per query


def jobs_by_id(ids: list[int]) -> list[ActiveJob]:
    """The jobs of these ids (in no particular order), read like active_jobs: the
    submit agent reads the jobs it just made this way, every iteration."""
    found = []
    for start in range(0, len(ids), _BY_ID):
        part = list(ids[start:start + _BY_ID])
        marks = ", ".join([database.param] * len(part))
        found += [ActiveJob(*row) for row in
                  database.execute_sql(f'{_ACTIVE_SELECT} WHERE "id" IN ({marks})', part)]
    return found


# Jobs given up (killed, lost) whose real outcome may still arrive: looked at again
# for this long after, at most this many per look (appliance/agents/submit.py).
LATE_WINDOW = 600.0  # s
LATE_BATCH = 5000
CORRECTABLE = (JobState.KILLED.value, JobState.LOST.value)


def settled(test: Test, now: float) -> bool:
    """True once no job record of `test` can change any more: the test is final, no
    job of it is still out (a node cut off at its end), and the late looks at the
    jobs given up when it ended (LATE_WINDOW) are over. What is kept of a test's
    jobs for good (appliance/compare) waits for this."""
    if TestState(test.state) not in TEST_FINAL:
        return False
    ended = test.finished_at if test.finished_at is not None else test.end_at
    if now < ended + LATE_WINDOW:
        return False
    return not Job.select().where(Job.test == test.id,
                                  Job.state.in_([s.value for s in JOB_ACTIVE])).exists()


def recently_given_up(test_ids: list[int], since: float) -> list[tuple[int, int, ActiveJob]]:
    """[(test id, site id, job)] of jobs killed or lost since `since` that a backend
    may still report on (they have a backend id and a folder)."""
    if not test_ids:
        return []
    rows = (Job.select(Job.test, Job.site, *_ACTIVE_COLUMNS)
            .where(Job.test.in_(test_ids), Job.state.in_(CORRECTABLE), Job.ended_at >= since,
                   Job.backend_id.is_null(False))
            .order_by(Job.ended_at.desc()).limit(LATE_BATCH).tuples())
    return [(test_id, site_id, ActiveJob(*rest)) for test_id, site_id, *rest in rows]


def correct_outcomes(corrections: list[tuple[ActiveJob, JobStatus]], now: float,
                     metrics_file: str, lease: Lease | None = None) -> list[int]:
    """Record the real outcome (completed, failed) of jobs recorded killed or lost,
    learnt later (a status file written as the kill arrived); the ids corrected.

    The daily rollups move the jobs from their old outcome to the new one in the
    same transaction. The old rows are read first, outside it: a killed or lost
    row changes only by such a correction, so one whose guarded UPDATE succeeds
    still held what was read.
    """
    wanted = [(job, status) for job, status in corrections
              if status.state in (JobState.COMPLETED, JobState.FAILED)]
    before = rollups.rows_of([job.id for job, _ in wanted])
    corrected = []
    if not wanted:
        return corrected
    with _transaction():
        hold(lease)
        for job, status in wanted:
            values = _final_values(job, status, now, metrics_file)
            if guarded_update(job.id, values, list(CORRECTABLE)):
                corrected.append(job.id)
        rollups.replace_finished([before[i] for i in corrected if i in before], corrected)
    return corrected


def create_pending(test: Test, test_site: TestSite, site: Site, count: int, now: float,
                   host: str, work_dir: str, lease: Lease | None = None
                   ) -> tuple[list[JobSpec], list[tuple[JobSpec, str]]]:
    """Insert `count` pending jobs (committed), make their folders; return the specs
    ready to submit and [(spec, reason)] of those whose folder could not be written.

    The attempt numbers are claimed with one UPDATE ... RETURNING that also checks
    the job cap, so two agents racing for a test cannot reuse numbers or pass the cap.
    Only while `lease` stands (a node back after a takeover must not add load).
    """
    with _transaction():
        hold(lease)
        claimed = (TestSite.update(jobs_created=TestSite.jobs_created + count)
                   .where(TestSite.id == test_site.id,
                          TestSite.job_cap.is_null() | (TestSite.jobs_created + count
                                                        <= TestSite.job_cap))
                   .returning(TestSite.jobs_created).tuples().execute())
        claimed = [row[0] for row in claimed]
        if not claimed:
            return [], []
        test_site.jobs_created = claimed[0]
        first = claimed[0] - count + 1
        attempts = range(first, first + count)
        ids = _insert_pending(test.id, site.id, attempts, now, host)
    specs, unwritten = [], []
    for job_id, attempt in zip(ids, attempts, strict=True):
        folder = workarea.job_dir(work_dir, test.id, site.name, job_id)
        spec = JobSpec(job_id=job_id, test_id=test.id, site=site.name, attempt=attempt,
                       command=test.command, image=test.image, environment=test.environment,
                       timeout=test.timeout, work_dir=folder,
                       metrics_file=os.path.join(folder, test.metrics_file),
                       network=test.network)
        try:
            os.makedirs(folder, exist_ok=True)
            # The work area is readable by anyone who may read the web: the values of
            # the template's environment (tokens, passwords) stay out of it.
            shown = spec.__dict__ | {"environment": sorted(spec.environment)}
            workarea.write_new_json(os.path.join(folder, workarea.SPEC_FILE), shown)
        except OSError as error:  # a full or read-only work area: this job fails, saying why
            unwritten.append((spec, f"cannot write the job folder: {error.strerror or error}"))
            continue
        specs.append(spec)
    return specs, unwritten


_PENDING_ROWS = 200  # rows per INSERT: SQLite allows 32,766 parameters, 5 a row


def _insert_pending(test_id: int, site_id: int, attempts: range, now: float,
                    host: str) -> list[int]:
    """INSERT pending job rows RETURNING their ids, in attempt order: plain SQL, as
    built by the query builder it cost a fifth of making a local job."""
    mark, pending = database.param, JobState.PENDING.value
    ids = []
    for start in range(0, len(attempts), _PENDING_ROWS):
        part = attempts[start:start + _PENDING_ROWS]
        values = ", ".join([f"({mark}, {mark}, {mark}, '{pending}', {mark}, {mark})"] * len(part))
        params = [value for attempt in part for value in (test_id, site_id, attempt, now, host)]
        cursor = database.execute_sql(
            'INSERT INTO "job" ("test_id", "site_id", "attempt", "state", "created_at", '
            f'"submit_host") VALUES {values} RETURNING "attempt", "id"', params)
        # Neither database promises RETURNING's order: each id goes with its attempt.
        ids += [job_id for _, job_id in sorted(cursor.fetchall())]
    return ids


def guarded_update(job_id: int, values: dict, sources: list[str]) -> int:
    """UPDATE job SET values WHERE id = job_id AND state IN sources; the row count.

    The same as Job.update(...).where(...).execute(), but the SQL text is built
    once per shape (columns and sources) and reused: building it through the
    query builder cost more than running it, for every job transition.
    """
    columns = tuple(values)
    # The placeholder is in the key: one process may talk to SQLite, then PostgreSQL.
    shape = (database.param, columns, len(sources))
    sql = _UPDATE_SQL.get(shape)
    if sql is None:
        sql = _UPDATE_SQL[shape] = _update_sql(columns, len(sources))
    fields = Job._meta.fields
    params = [fields[name].db_value(values[name]) for name in columns] + [job_id, *sources]
    return database.execute_sql(sql, params).rowcount


_UPDATE_SQL: dict[tuple, str] = {}


def _update_sql(columns: tuple[str, ...], sources: int) -> str:
    mark = database.param
    assignments = ", ".join(f'"{Job._meta.fields[c].column_name}" = {mark}' for c in columns)
    wanted = ", ".join([mark] * sources)
    return f'UPDATE "job" SET {assignments} WHERE "id" = {mark} AND "state" IN ({wanted})'


def record_submitted(submitted: list[tuple[int, str, str, float]], running: bool,
                     lease: Lease | None = None) -> set[int]:
    """Store backend ids of jobs just submitted: [(job id, backend id, folder, when)].

    Returns the ids whose row was no longer pending (decided by someone else).
    """
    state = JobState.RUNNING if running else JobState.SUBMITTED
    pending = [JobState.PENDING.value]
    refused = set()
    if not submitted:
        return refused
    with _transaction():
        hold(lease)
        for job_id, backend_id, folder, when in submitted:
            values = dict(state=state.value, backend_id=backend_id, submitted_at=when,
                          work_dir=folder)
            if running:
                values["started_at"] = when
            if not guarded_update(job_id, values, pending):
                refused.add(job_id)
    return refused


def record_statuses(changes: list[tuple[ActiveJob, JobStatus]], now: float,
                    metrics_file: str, lease: Lease | None = None) -> set[int]:
    """Apply what polls learnt; returns the ids whose row refused the change (its
    state was decided by someone else). The daily rollups of the jobs that became
    final are updated in the same transaction."""
    refused, finished = set(), []
    if not changes:
        return refused
    with _transaction():
        hold(lease)
        for job, status in changes:
            if status.state.value == job.state:
                continue  # nothing to change
            if not _apply(job, status, now, metrics_file):
                refused.add(job.id)
            elif status.state in JOB_FINAL:
                finished.append(job.id)
        rollups.add_finished(finished)
    return refused


def _apply(job: ActiveJob, status: JobStatus, now: float, metrics_file: str) -> bool:
    """One guarded write; `job` then holds what was written (its state, its start),
    as the agent keeps it for the next iteration (appliance/agents/keptjobs.py)."""
    values = _final_values(job, status, now, metrics_file)
    if not guarded_update(job.id, values, [s.value for s in job_sources(status.state)]):
        return False
    job.state = values["state"]
    job.started_at = values.get("started_at", job.started_at)
    return True


def _final_values(job: ActiveJob, status: JobStatus, now: float, metrics_file: str) -> dict:
    """The columns a status sets, its numbers checked (a backend may say anything)."""
    target = status.state
    values: dict = {"state": target.value}
    # A backend's clock may be off or its reply misread: a reported moment counts only
    # inside the range every page can show, and never before the submission we timed.
    reported_start = _moment(status.started_at)
    started = job.started_at or reported_start
    if target in JOB_FINAL and reported_start is not None:
        # The backend's own record of the start beats the poll that first saw the
        # job running (a CE may show a job running after it has ended).
        started = reported_start
    if started is not None and job.submitted_at is not None:
        # Batch systems report whole seconds: never before the submission we timed.
        started = max(started, job.submitted_at)
    if target is JobState.RUNNING:
        values["started_at"] = started or now
    if target in JOB_FINAL:
        ended = _moment(status.ended_at) or now
        floor = started if started is not None else job.submitted_at
        if floor is not None:
            ended = max(ended, floor)
        cpu = payload.finite_number(status.cpu_seconds)
        values.update(ended_at=ended, exit_code=_bounded_int(status.exit_code),
                      reason=None if status.reason is None else payload.shorten(status.reason),
                      cpu_seconds=cpu if cpu is not None and cpu >= 0 else None)
        values.update({k: v for k, v in status.extra.items() if k in STORED_EXTRAS})
        if started is not None:
            values.update(started_at=started, wall_seconds=max(0.0, ended - started))
        values.update(_metrics(job, status, metrics_file))
        if job.work_dir:
            values["worker"] = workers.read(job.work_dir)
    return values


def _moment(value) -> float | None:
    """A reported time, or None unless it is a number within limits.check_time's range."""
    try:
        return limits.check_time(value)
    except BadInput:
        return None


def _bounded_int(value) -> int | None:
    """An exit code that fits the column (a backend reply may say anything)."""
    return value if isinstance(value, int) and -2**31 <= value < 2**31 else None


def _metrics(job: ActiveJob, status: JobStatus, metrics_file: str) -> dict:
    if status.metrics is not None:
        try:
            return {"metrics": payload.clean_metrics(status.metrics)}
        except payload.PayloadError as error:
            return {"metrics": None, "reason": str(error), "state": JobState.FAILED.value}
    if not job.work_dir:
        return {}
    metrics, problem = workarea.read_metrics(os.path.join(job.work_dir, metrics_file))
    if problem and status.state is JobState.COMPLETED:
        # The payload said it succeeded but handed back garbage: it did not.
        return {"metrics": None, "reason": problem, "state": JobState.FAILED.value}
    return {"metrics": metrics} if metrics is not None else {}


def end_jobs(jobs: list[ActiveJob], state: JobState, reason: str, now: float,
             lease: Lease | None = None) -> int:
    """Give jobs a final state decided by the agent (killed, lost, failed), and
    add them to the daily rollups in the same transaction."""
    finished = []
    sources = [s.value for s in job_sources(state)]
    if not jobs:
        return 0
    with _transaction():
        hold(lease)
        for job in jobs:
            started = job.started_at
            values = dict(state=state.value, reason=reason, ended_at=now)
            if started is not None:
                values["wall_seconds"] = max(0.0, now - started)
            if guarded_update(job.id, values, sources):
                finished.append(job.id)
        rollups.add_finished(finished)
    return len(finished)
