"""A test's job rows as arrays, for the summary's heavy part and the test page's plot
data, read again only where they changed.

Those figures (wall percentiles, jobs by state over time, efficiency over time, queue
and payload metric means) need every job of the test. Aggregating them in SQL cost more
than reading: a GROUP BY on computed moments sorts every row (370 ms for 100,000 jobs on
SQLite), the metrics' JSON pass 200 ms more. So the rows are read as numbers into numpy
arrays, in blocks of BLOCK consecutive job ids, each with the metric sums of its ended
jobs, and kept between calls in this process when asked (the server agent refreshes a
running test's summary every few seconds).

A kept block is checked against its fingerprint in the database: its job count, the sums
of its states' first letters (they all differ) and of its metrics' lengths, and the sums
of its ended_at and wall_seconds; one indexed pass that sends no row. Unchanged and all
ended: reused as it is. Changed: only its jobs that were active when it was read and the
ids above the highest it held are read again, and their ended jobs' metrics; if the
kept ended rows and those read again do not add up to the fingerprint (an ended job's
outcome was corrected, retention removed rows, a job committed out of id order), the
whole block is read again. Ended jobs change in the database only in those ways.
"""
from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass

import numpy as np

from appliance.db import database, is_postgres
from appliance.states import JobState

BLOCK = 4096  # job ids per block
STATES = tuple(state.value for state in JobState)  # a state's code is its index here
CODE = {state: STATES.index(state.value) for state in JobState}
FINAL_CODES = tuple(CODE[state] for state in
                    (JobState.COMPLETED, JobState.FAILED, JobState.KILLED, JobState.LOST))
SITE, STATE, SUBMITTED, STARTED, ENDED, WALL = range(6)  # the columns of Scan.rows

_CODE = "CASE state " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(STATES)) \
    + " ELSE -1 END"
_LETTERS = np.array([ord(state[0]) for state in STATES], dtype=np.int64)
_COLUMNS = f"id, site_id, {_CODE}, submitted_at, started_at, ended_at, wall_seconds, " \
    "LENGTH(metrics)"
_IN_BLOCK = "test_id = {p} AND id >= {p} AND id < {p}"
_FINGERPRINT = ("SELECT COUNT(*), SUM({letter}(state)), SUM(LENGTH(metrics)), SUM(ended_at), "
                "SUM(wall_seconds) FROM job WHERE " + _IN_BLOCK)
_FINAL = "state IN (" + ", ".join(f"'{STATES[c]}'" for c in FINAL_CODES) + ")"
_SQLITE_METRICS = """
SELECT j.site_id, m.key, SUM(m.value), COUNT(*)
FROM job j, json_each(j.metrics) m
WHERE {where} AND j.metrics IS NOT NULL AND m.type IN ('integer', 'real')
GROUP BY j.site_id, m.key"""
_POSTGRES_METRICS = """
SELECT j.site_id, m.key, SUM((m.value #>> '{{}}')::float), COUNT(*)
FROM job j, json_each(j.metrics::json) m
WHERE {where} AND j.metrics IS NOT NULL AND json_typeof(m.value) = 'number'
GROUP BY j.site_id, m.key"""


@dataclass
class _Block:
    fingerprint: tuple
    ids: np.ndarray   # job ids, a row each
    rows: np.ndarray  # the Scan.rows columns, then the metrics' length (NaN: none)
    metrics: dict[tuple[int, str], list]  # over its ended jobs: (site, name) -> [sum, jobs]

    def ended(self) -> np.ndarray:
        return np.isin(self.rows[:, STATE], FINAL_CODES)


@dataclass
class Scan:
    """Every job of a test: `rows` has a row per job with the columns SITE, STATE (a code:
    STATES[code]), SUBMITTED, STARTED, ENDED and WALL, NaN where the job has none;
    `metric_sums` {(site id, metric name): [sum, jobs reporting it]} over the numbers
    its ended jobs' payloads wrote."""
    rows: np.ndarray
    metric_sums: dict[tuple[int, str], list]

    def column(self, index: int) -> np.ndarray:
        return self.rows[:, index]

    def sites(self) -> np.ndarray:
        return self.rows[:, SITE].astype(np.int64)

    def states(self) -> np.ndarray:
        return self.rows[:, STATE].astype(np.int64)


def distinct(ids: np.ndarray) -> list[int]:
    """The distinct values of non-negative integers (database ids), in order: counted,
    not sorted, as ids are small."""
    return np.flatnonzero(np.bincount(ids)).tolist() if len(ids) else []


# {database: {test id: {block number: _Block}}}: a database opened anew starts empty.
_kept: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def read(test_id: int, keep: bool = False) -> Scan:
    """The test's jobs, from the blocks kept of them where those still hold; `keep`:
    keep what was read for the next call (else what was kept of the test is dropped)."""
    db = database.obj
    with _lock:
        kept = _kept.setdefault(db, {}).pop(test_id, {})
    span = database.execute_sql(
        f"SELECT MIN(id), MAX(id) FROM job WHERE test_id = {database.param}", (test_id,)
    ).fetchone()
    blocks: dict[int, _Block] = {}
    if span[0] is not None:
        for number in range(span[0] // BLOCK, span[1] // BLOCK + 1):
            block = _block(test_id, number, kept.get(number))
            if block is not None:
                blocks[number] = block
    if keep:
        with _lock:
            _kept[db][test_id] = blocks
    return _joined(blocks)


def keep_only(test_ids) -> None:
    """Drop what is kept of every other test (those that left the running states)."""
    wanted = set(test_ids)
    with _lock:
        for tests in _kept.values():
            for test_id in [t for t in tests if t not in wanted]:
                del tests[test_id]


def _block(test_id: int, number: int, old: _Block | None) -> _Block | None:
    p = database.param
    bounds = (test_id, number * BLOCK, (number + 1) * BLOCK)
    letter = "ASCII" if is_postgres() else "UNICODE"
    fingerprint = tuple(database.execute_sql(
        _FINGERPRINT.format(letter=letter, p=p), bounds).fetchone())
    if not fingerprint[0]:
        return None
    if old is not None:
        if old.fingerprint == fingerprint and old.ended().all():
            return old
        newer = _updated(old, fingerprint, bounds)
        if newer is not None:
            return newer
    # Read after the fingerprint: a change in between makes the next call read again.
    ids, rows = _rows(_IN_BLOCK.format(p=p), bounds)
    metrics = _metric_sums(f"j.test_id = {p} AND j.id >= {p} AND j.id < {p} AND j.{_FINAL}",
                           bounds)
    return _Block(fingerprint, ids, rows, metrics)


def _updated(old: _Block, fingerprint: tuple, bounds: tuple) -> _Block | None:
    """The block from `old` with its then active jobs and any higher ids read again, or
    None when that does not account for the fingerprint."""
    ended = old.ended()
    again = old.ids[~ended].tolist()
    top = int(old.ids.max())
    p = database.param
    where = _IN_BLOCK.format(p=p) + f" AND (id > {top}" + \
        (f" OR id IN ({', '.join(map(str, again))})" if again else "") + ")"
    again_ids, again_rows = _rows(where, bounds)
    ids = np.concatenate([old.ids[ended], again_ids])
    rows = np.concatenate([old.rows[ended], again_rows])
    if not _adds_up(rows, fingerprint):
        return None
    newly = again_ids[np.isin(again_rows[:, STATE], FINAL_CODES)]
    metrics = _added({}, old.metrics)
    if len(newly):
        listed = ", ".join(map(str, newly.tolist()))
        _added(metrics, _metric_sums(f"j.id IN ({listed})", ()))
    return _Block(fingerprint, ids, rows, metrics)


def _added(into: dict[tuple[int, str], list], sums: dict[tuple[int, str], list]) -> dict:
    """`into` with each [sum, jobs] of `sums` added to its key's (new lists: a kept
    block's own sums are never changed)."""
    for key, (total, count) in sums.items():
        entry = into.setdefault(key, [0.0, 0])
        entry[0] += total
        entry[1] += count
    return into


def _adds_up(rows: np.ndarray, fingerprint: tuple) -> bool:
    """Whether these rows hold what the database summed: counts, letters and lengths
    exactly, the sums of times up to the rounding of adding in another order."""
    count, letters, lengths, ended, wall = fingerprint
    codes = rows[:, STATE].astype(np.int64)
    if len(rows) != count or (codes < 0).any():
        return False
    if int(_LETTERS[codes].sum()) != (letters or 0):
        return False
    if int(np.nansum(rows[:, 6])) != (lengths or 0):
        return False
    return all(math.isclose(float(np.nansum(rows[:, column])), float(total or 0.0),
                            rel_tol=1e-9, abs_tol=1e-6) for column, total in
               ((ENDED, ended), (WALL, wall)))


def _rows(where: str, params: tuple) -> tuple[np.ndarray, np.ndarray]:
    rows = database.execute_sql(f"SELECT {_COLUMNS} FROM job WHERE {where}", params).fetchall()
    table = np.array(rows, dtype=np.float64).reshape(-1, 8)  # NULL: NaN
    return table[:, 0].astype(np.int64), table[:, 1:]


def _metric_sums(where: str, params: tuple) -> dict[tuple[int, str], list]:
    sql = (_POSTGRES_METRICS if is_postgres() else _SQLITE_METRICS).format(where=where)
    return {(site, key): [float(total), int(count)] for site, key, total, count
            in database.execute_sql(sql, params).fetchall()}


def _joined(blocks: dict[int, _Block]) -> Scan:
    ordered = [blocks[n] for n in sorted(blocks)]
    rows = np.concatenate([b.rows[:, :6] for b in ordered]) if ordered else np.empty((0, 6))
    sums: dict[tuple[int, str], list] = {}
    for block in ordered:
        _added(sums, block.metrics)
    return Scan(rows, sums)
