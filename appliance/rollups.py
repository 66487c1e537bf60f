"""Daily rollups: finished jobs counted per UTC day, site, template and category.

A job lands in the day it ENDED (UTC); a job that runs across midnight counts
once, in the day of its end. A test that runs across midnight therefore lands
in both days: its jobs that ended before midnight in the first, the others in
the second. Everything here is additive, so a rollup row is the sum of its
jobs' contributions in any order, and several agents may add to the same row
at once (the upsert adds in SQL; no read-modify-write).

A job recorded killed or lost whose real outcome is learnt later is moved
(`replace_finished`): its old contribution subtracted, the new one added, in
the correcting transaction. Sums and counts stay exact; a maximum or minimum
once raised by a corrected job stays (they bound the values, as a histogram's
buckets do).

No double counting: `add_finished` is called by appliance/agents/jobbook.py in
the transaction that moved the jobs to a final state, for exactly the rows
whose guarded UPDATE changed (a final state is never left, so a job is added
once). `backfill` counts the jobs that were final before rollups existed; it
runs inside the migration, before any agent of this version starts.
"""
from __future__ import annotations

import bisect
import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import peewee as pw
from peewee import EXCLUDED

from appliance.db import database, is_postgres
from appliance.models import (
    CPU_EFFICIENCY_BUCKETS,
    CPU_EFFICIENCY_EDGES,
    QUEUE_BUCKETS,
    QUEUE_EDGES,
    WALL_BUCKETS,
    WALL_EDGES,
    DailyRollup,
    Job,
    RollupBackfill,
    RollupMetric,
    RollupMetricBucket,
    Test,
)
from appliance.states import JOB_FINAL, JobState

log = logging.getLogger(__name__)
DAY = 86400
COUNTS = {JobState.COMPLETED.value: "completed", JobState.FAILED.value: "failed",
          JobState.KILLED.value: "killed", JobState.LOST.value: "lost"}
Key = tuple  # (day, site id, template id, category)
# (site id, template id, category, state, ended_at, submitted_at, started_at, wall, cpu, metrics)
_COLUMNS = (Job.site, Test.template, Test.category, Job.state, Job.ended_at, Job.submitted_at,
            Job.started_at, Job.wall_seconds, Job.cpu_seconds, Job.metrics)


def day_of(moment: float) -> int:
    """The UNIX second at which the UTC day holding `moment` starts."""
    return int(moment // DAY) * DAY


# A payload metric may be any number: its histogram has METRIC_STEPS buckets per decade of
# magnitude (values within about 33 % share one), from 10**METRIC_SMALLEST (below: zero)
# to 10**METRIC_LARGEST (above: the last bucket), negative values mirrored.
METRIC_STEPS = 8
METRIC_SMALLEST = -9
METRIC_LARGEST = 15
_METRIC_TOP = (METRIC_LARGEST - METRIC_SMALLEST) * METRIC_STEPS


def metric_bucket(value: float) -> int:
    """The bucket of a metric value: 0 for (nearly) zero, k > 0 for a positive value in
    [10**((k-1)/STEPS + SMALLEST), 10**(k/STEPS + SMALLEST)), -k for its mirror. Buckets
    in index order are buckets in value order."""
    magnitude = abs(value)
    if magnitude < 10.0 ** METRIC_SMALLEST:
        return 0
    step = math.floor((math.log10(magnitude) - METRIC_SMALLEST) * METRIC_STEPS) + 1
    step = min(max(step, 1), _METRIC_TOP)
    return step if value > 0 else -step


def metric_bucket_range(index: int) -> tuple[float, float]:
    """(low, high) of the values metric_bucket puts in bucket `index`."""
    if index == 0:
        return 0.0, 0.0
    step = abs(index)
    low = 10.0 ** ((step - 1) / METRIC_STEPS + METRIC_SMALLEST)
    high = 10.0 ** (step / METRIC_STEPS + METRIC_SMALLEST)
    return (low, high) if index > 0 else (-high, -low)


def metric_quantiles(buckets: dict[int, int], qs: tuple[float, ...], low: float | None = None,
                     high: float | None = None) -> list[float | None]:
    """The qs-quantiles (ascending) of a metric's bucket counts, each interpolated inside
    its bucket and kept within the smallest and largest value seen (`low`, `high`), when
    known; one pass over the buckets for all of them."""
    total = sum(n for n in buckets.values() if n > 0)
    if not total:
        return [None] * len(qs)
    found: list[float | None] = []
    wanted = iter(qs)
    q = next(wanted, None)
    seen = 0
    for index in sorted(buckets):
        number = buckets[index]
        if number <= 0:
            continue
        while q is not None and seen + number >= max(1.0, q * total):
            bottom, top = metric_bucket_range(index)
            value = bottom + (top - bottom) * (max(1.0, q * total) - seen) / number
            if low is not None:
                value = max(value, low)
            if high is not None:
                value = min(value, high)
            found.append(value)
            q = next(wanted, None)
        seen += number
    return found + [high] * (len(qs) - len(found))


def bucket_of(value: float, edges: tuple = WALL_EDGES) -> int:
    """Index of the histogram bucket holding `value` (wall seconds by default)."""
    return bisect.bisect_right(edges, value)


@dataclass
class Delta:
    """What some jobs add to one rollup row."""
    counts: dict = field(default_factory=lambda: dict.fromkeys(COUNTS.values(), 0))
    wall_count: int = 0
    wall_sum: float = 0.0
    wall_max: float | None = None
    cpu_count: int = 0
    cpu_sum: float = 0.0
    queue_count: int = 0
    queue_sum: float = 0.0
    buckets: list = field(default_factory=lambda: [0] * len(WALL_BUCKETS))
    cpu_efficiency_buckets: list = field(
        default_factory=lambda: [0] * len(CPU_EFFICIENCY_BUCKETS))
    queue_buckets: list = field(default_factory=lambda: [0] * len(QUEUE_BUCKETS))
    metrics: dict = field(default_factory=dict)  # name -> [count, total, low, high]
    metric_buckets: dict = field(default_factory=dict)  # (name, bucket) -> count

    def add(self, state, submitted, started, wall, cpu, metrics) -> None:
        self.counts[COUNTS[state]] += 1
        if wall is not None:
            self.wall_count += 1
            self.wall_sum += wall
            self.wall_max = wall if self.wall_max is None else max(self.wall_max, wall)
            self.buckets[bucket_of(wall)] += 1
        if cpu is not None:
            self.cpu_count += 1
            self.cpu_sum += cpu
            if wall:
                self.cpu_efficiency_buckets[bucket_of(cpu / wall, CPU_EFFICIENCY_EDGES)] += 1
        if submitted is not None and started is not None:
            queue = max(0.0, started - submitted)
            self.queue_count += 1
            self.queue_sum += queue
            self.queue_buckets[bucket_of(queue, QUEUE_EDGES)] += 1
        for name, value in _numbers(metrics).items():
            entry = self.metrics.setdefault(name, [0, 0.0, value, value])
            entry[0] += 1
            entry[1] += value
            entry[2], entry[3] = min(entry[2], value), max(entry[3], value)
            slot = (name, metric_bucket(value))
            self.metric_buckets[slot] = self.metric_buckets.get(slot, 0) + 1


    def negated(self) -> Delta:
        """What takes this delta's jobs out again (max and min stay)."""
        return Delta(counts={k: -v for k, v in self.counts.items()},
                     wall_count=-self.wall_count, wall_sum=-self.wall_sum,
                     cpu_count=-self.cpu_count, cpu_sum=-self.cpu_sum,
                     queue_count=-self.queue_count, queue_sum=-self.queue_sum,
                     buckets=[-n for n in self.buckets],
                     cpu_efficiency_buckets=[-n for n in self.cpu_efficiency_buckets],
                     queue_buckets=[-n for n in self.queue_buckets],
                     metrics={k: [-c, -t, None, None] for k, (c, t, _, _) in self.metrics.items()},
                     metric_buckets={k: -n for k, n in self.metric_buckets.items()})


def _numbers(metrics) -> dict:
    if isinstance(metrics, str):
        try:
            metrics = json.loads(metrics)
        except ValueError:
            return {}
    if not isinstance(metrics, dict):
        return {}
    return {str(k)[:128]: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
            and abs(v) != float("inf")}


def accumulate(rows: Iterable[tuple]) -> dict[Key, Delta]:
    """Deltas by rollup key from job rows (see _COLUMNS); rows not final or
    without an end are skipped."""
    deltas: dict[Key, Delta] = {}
    for site, template, category, state, ended, submitted, started, wall, cpu, metrics in rows:
        if state not in COUNTS or ended is None:
            continue
        key = (day_of(ended), site, template, category)
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = Delta()
        delta.add(state, submitted, started, wall, cpu, metrics)
    return deltas


def _greatest(a, b):
    """The larger of two columns, NULL only when both are (SQLite's max(a, b) is
    NULL when either is)."""
    if is_postgres():
        return pw.fn.GREATEST(a, b)
    return pw.fn.MAX(pw.fn.COALESCE(a, b), pw.fn.COALESCE(b, a))


def _least(a, b):
    if is_postgres():
        return pw.fn.LEAST(a, b)
    return pw.fn.MIN(pw.fn.COALESCE(a, b), pw.fn.COALESCE(b, a))


_KEY = (DailyRollup.day, DailyRollup.site, DailyRollup.template, DailyRollup.category)
_ADDED = ("completed", "failed", "killed", "lost", "wall_count", "wall_sum", "cpu_count",
          "cpu_sum", "queue_count", "queue_sum", *WALL_BUCKETS, *CPU_EFFICIENCY_BUCKETS,
          *QUEUE_BUCKETS)
_METRIC_KEY = (RollupMetric.day, RollupMetric.site, RollupMetric.template,
               RollupMetric.category, RollupMetric.name)


def apply(deltas: dict[Key, Delta]) -> None:
    """Add deltas to their rollup rows (created when missing), in key order so
    that two transactions never wait for each other's rows in opposite orders."""
    rollup_sql, metric_sql, bucket_sql = _upserts()
    with database.atomic():
        for key in sorted(deltas):
            delta = deltas[key]
            values = [*key, *(delta.counts[name] for name in _COUNTED), delta.wall_count,
                      delta.wall_sum, delta.wall_max, delta.cpu_count, delta.cpu_sum,
                      delta.queue_count, delta.queue_sum, *delta.buckets,
                      *delta.cpu_efficiency_buckets, *delta.queue_buckets]
            database.execute_sql(rollup_sql, values)
            for name in sorted(delta.metrics):
                database.execute_sql(metric_sql, [*key, name, *delta.metrics[name]])
            for (name, bucket), number in sorted(delta.metric_buckets.items()):
                database.execute_sql(bucket_sql, [*key, name, bucket, number])


_COUNTED = ("completed", "failed", "killed", "lost")
_ROLLUP_COLUMNS = ("day", "site", "template", "category", *_COUNTED, "wall_count", "wall_sum",
                   "wall_max", "cpu_count", "cpu_sum", "queue_count", "queue_sum",
                   *WALL_BUCKETS, *CPU_EFFICIENCY_BUCKETS, *QUEUE_BUCKETS)
_METRIC_COLUMNS = ("day", "site", "template", "category", "name", "count", "total", "low",
                   "high")
_BUCKET_COLUMNS = ("day", "site", "template", "category", "name", "bucket", "count")
_SQL: dict[tuple, tuple[str, str, str]] = {}


def _upserts() -> tuple[str, str, str]:
    """The three upserts' SQL, built once per kind of database (building costs more
    than running them)."""
    kind = (database.param, is_postgres())
    if kind not in _SQL:
        fields = DailyRollup._meta.fields
        update = {fields[name]: fields[name] + getattr(EXCLUDED, name) for name in _ADDED}
        update[DailyRollup.wall_max] = _greatest(DailyRollup.wall_max, EXCLUDED.wall_max)
        metric_update = {RollupMetric.count: RollupMetric.count + EXCLUDED.count,
                         RollupMetric.total: RollupMetric.total + EXCLUDED.total,
                         RollupMetric.low: _least(RollupMetric.low, EXCLUDED.low),
                         RollupMetric.high: _greatest(RollupMetric.high, EXCLUDED.high)}
        numbered = {fields[c]: n for n, c in enumerate(_ROLLUP_COLUMNS)}
        rollup = DailyRollup.insert(numbered).on_conflict(conflict_target=_KEY, update=update)
        metric_fields = RollupMetric._meta.fields
        metric = RollupMetric.insert({metric_fields[c]: n for n, c in enumerate(_METRIC_COLUMNS)}) \
            .on_conflict(conflict_target=_METRIC_KEY, update=metric_update)
        bucket_fields = RollupMetricBucket._meta.fields
        bucket = RollupMetricBucket.insert(
            {bucket_fields[c]: n for n, c in enumerate(_BUCKET_COLUMNS)}).on_conflict(
            conflict_target=[bucket_fields[c] for c in _BUCKET_COLUMNS[:-1]],
            update={RollupMetricBucket.count: RollupMetricBucket.count + EXCLUDED.count})
        _SQL[kind] = (_sql_of(rollup, len(_ROLLUP_COLUMNS)), _sql_of(metric, len(_METRIC_COLUMNS)),
                      _sql_of(bucket, len(_BUCKET_COLUMNS)))
    return _SQL[kind]


def _sql_of(query, parameters: int) -> str:
    sql, params = query.sql()
    if [float(p) for p in params] != list(range(parameters)):
        raise AssertionError("every value must be a parameter, in column order")
    return sql


def rows_of(job_ids: list[int]) -> dict[int, tuple]:
    """{job id: its row as accumulate reads it}."""
    if not job_ids:
        return {}
    query = Job.select(Job.id, *_COLUMNS).join(Test).where(Job.id.in_(job_ids))
    return {row[0]: row[1:] for row in _raw(query)}


def replace_finished(old_rows: list[tuple], job_ids: list[int]) -> None:
    """Take these jobs' old rows out of the rollups and add what they hold now."""
    old = accumulate(old_rows)
    apply({key: delta.negated() for key, delta in old.items()})
    add_finished(job_ids)
    _drop_emptied(list(old))


def _drop_emptied(keys: list[Key]) -> None:
    """Delete the rollup rows of these keys that count no job any more (a job's
    corrected end moved it to another day): a day a site ran nothing has no row,
    whatever history led there."""
    for key in sorted(keys):
        where = [field == value for field, value in zip(_KEY, key, strict=True)]
        emptied = (DailyRollup.completed + DailyRollup.failed + DailyRollup.killed
                   + DailyRollup.lost) == 0
        if DailyRollup.delete().where(*where, emptied).execute():
            metric_where = [field == value for field, value in zip(_METRIC_KEY, key, strict=False)]
            RollupMetric.delete().where(*metric_where).execute()
            bucket_where = [field == value for field, value in zip(
                (RollupMetricBucket.day, RollupMetricBucket.site, RollupMetricBucket.template,
                 RollupMetricBucket.category), key, strict=True)]
            RollupMetricBucket.delete().where(*bucket_where).execute()


def add_finished(job_ids: list[int]) -> None:
    """Add these jobs (just given a final state, in the caller's transaction)."""
    if not job_ids:
        return
    apply(accumulate(_raw(Job.select(*_COLUMNS).join(Test).where(Job.id.in_(job_ids)))))


def _raw(query) -> list[tuple]:
    """The rows as the database returns them: no per-value conversion (the metrics
    JSON is parsed by accumulate, numbers need none), a third of the time."""
    return database.execute_sql(*query.sql()).fetchall()


def backfill(batch: int = 20_000, progress: Callable[[str], None] | None = None) -> int:
    """Count the final jobs that existed before rollups did, `batch` ids at a time,
    each batch committed with the cursor: interrupted, it resumes where it stood.
    Returns the jobs counted by this call."""
    state = RollupBackfill.select().order_by(RollupBackfill.id).first()
    if state is None:
        top = Job.select(pw.fn.MAX(Job.id)).scalar() or 0
        state = RollupBackfill.create(last_job_id=0, max_job_id=top, started_at=time.time())
    if state.finished_at is not None:
        return 0
    counted, began = 0, time.monotonic()
    final = [s.value for s in JOB_FINAL]
    while state.last_job_id < state.max_job_id:
        upper = min(state.last_job_id + batch, state.max_job_id)
        with database.atomic():
            rows = _raw(Job.select(*_COLUMNS).join(Test)
                        .where(Job.id > state.last_job_id, Job.id <= upper,
                               Job.state.in_(final)))
            apply(accumulate(rows))
            RollupBackfill.update(last_job_id=upper).where(RollupBackfill.id == state.id) \
                .execute()
        state.last_job_id = upper
        counted += len(rows)
        if progress:
            rate = counted / max(1e-9, time.monotonic() - began)
            progress(f"rollups: job ids up to {upper} of {state.max_job_id} "
                     f"({100 * upper / state.max_job_id:.0f}%, {rate:,.0f} jobs/s)")
    RollupBackfill.update(finished_at=time.time()).where(RollupBackfill.id == state.id).execute()
    return counted


def fill_histograms(batch: int = 20_000) -> int:
    """Add the jobs the rollups count already to the CPU efficiency, queue and payload
    metric histograms, which did not exist when they were counted (migration 0024); the
    jobs added. Jobs an
    unfinished backfill has not reached yet are left to it (it fills every column)."""
    state = RollupBackfill.select().order_by(RollupBackfill.id).first()
    if state is None:
        return 0  # nothing counted yet
    final = [s.value for s in JOB_FINAL]
    top = Job.select(pw.fn.MAX(Job.id)).scalar() or 0
    added = 0
    for first in range(0, top, batch):
        query = Job.select(*_COLUMNS).join(Test).where(
            Job.id > first, Job.id <= first + batch, Job.state.in_(final))
        if state.finished_at is None:
            query = query.where(~((Job.id > state.last_job_id) & (Job.id <= state.max_job_id)))
        rows = _raw(query)
        with database.atomic():
            for key, delta in sorted(accumulate(rows).items()):
                _add_histograms(key, delta)
        added += len(rows)
    return added


def _add_histograms(key: Key, delta: Delta) -> None:
    """Add a delta's CPU efficiency and queue histograms to its key's existing row (a
    counted job has one; none is made here), and its metrics' buckets."""
    bucket_sql = _upserts()[2]
    for (name, bucket), number in sorted(delta.metric_buckets.items()):
        database.execute_sql(bucket_sql, [*key, name, bucket, number])
    fields = DailyRollup._meta.fields
    pairs = [*zip(CPU_EFFICIENCY_BUCKETS, delta.cpu_efficiency_buckets, strict=True),
             *zip(QUEUE_BUCKETS, delta.queue_buckets, strict=True)]
    changes = {fields[name]: fields[name] + number for name, number in pairs if number}
    if changes:
        DailyRollup.update(changes).where(
            *[column == value for column, value in zip(_KEY, key, strict=True)]).execute()


def quantile(buckets: list[int], q: float, high: float | None = None,
             edges: tuple = WALL_EDGES) -> float | None:
    """The q-quantile of a histogram with these bucket edges (wall time by default),
    interpolated inside its bucket (the last bucket reaches up to `high`, the largest
    value, when known; else the quantile in it is its lower edge)."""
    total = sum(buckets)
    if not total:
        return None
    rank = max(1.0, q * total)
    seen = 0
    for index, number in enumerate(buckets):
        if number and seen + number >= rank:
            low = edges[index - 1] if index else 0.0
            top = edges[index] if index < len(edges) else (high or low)
            if high is not None:
                top = min(top, max(high, low))
            return low + (top - low) * (rank - seen) / number
        seen += number
    return high
