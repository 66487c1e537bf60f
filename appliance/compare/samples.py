"""The values of one side's finished jobs, per site and figure, as numpy arrays.

Two queries per side: the job columns (wall, CPU, queue) as numbers, and the metrics
of completed jobs as JSON text, decoded one site at a time in one call (a
json.loads per job costs more than the whole query). A side holding more than
MAX_JOBS jobs is refused (compare a shorter period).
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

import numpy as np

from appliance.compare.figures import METRIC, PHASE
from appliance.compare.sides import Side
from appliance.db import database
from appliance.errors import BadInput
from appliance.states import JobState

MAX_JOBS = 2_000_000  # finished jobs on one side


@dataclass
class Sample:
    """One site's values on one side: per figure an array of numbers, and outcome counts."""
    completed: int = 0
    failed: int = 0
    values: dict[str, np.ndarray] = field(default_factory=dict)


def load(side: Side) -> dict[int, Sample]:
    """{site id: Sample} of the side's jobs that completed or failed."""
    where, args = _where(side)
    columns = ("j.site_id, CASE WHEN j.state = 'completed' THEN 1 ELSE 0 END, "
               "j.wall_seconds, j.cpu_seconds, j.started_at - j.submitted_at")
    rows = database.execute_sql(
        f"SELECT {columns} FROM job j {where} LIMIT {MAX_JOBS + 1}", args).fetchall()
    if len(rows) > MAX_JOBS:
        raise BadInput(f"{side.label} holds more than {MAX_JOBS} jobs: compare a shorter period")
    samples = _columns(np.array(rows, dtype=float).reshape(-1, 5))
    metrics = database.execute_sql(
        f"SELECT j.site_id, j.metrics FROM job j {where} AND j.state = 'completed' "
        "AND j.metrics IS NOT NULL ORDER BY j.site_id", args)
    for site_id, group in itertools.groupby(metrics, key=lambda row: row[0]):
        samples[site_id].values.update(_metrics(row[1] for row in group))
    return samples


def _where(side: Side) -> tuple[str, tuple]:
    param = database.param
    finished = "j.state IN ('completed', 'failed')"
    if side.test_id is not None:
        return f"WHERE j.test_id = {param} AND {finished}", (side.test_id,)
    return (f"JOIN test t ON t.id = j.test_id WHERE t.template_id = {param} "
            f"AND j.ended_at >= {param} AND j.ended_at < {param} AND {finished}",
            (side.template_id, side.start, side.end))


def _columns(table: np.ndarray) -> dict[int, Sample]:
    samples = {}
    for site_id in np.unique(table[:, 0]):
        rows = table[table[:, 0] == site_id]
        done = rows[rows[:, 1] == 1]
        wall, cpu = done[:, 2], done[:, 3]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(wall > 0, cpu / wall, np.nan)
        samples[int(site_id)] = Sample(len(done), len(rows) - len(done), {
            name: _present(values) for name, values in (
                ("wall", wall), ("cpu", cpu), ("cpu_efficiency", ratio),
                ("queue", np.maximum(rows[:, 4], 0.0)))})
    for sample in samples.values():
        sample.values = {k: v for k, v in sample.values.items() if len(v)}
    return samples


def _metrics(texts) -> dict[str, np.ndarray]:
    """{figure: values} of a site's metrics objects. appliance/payload.py stored numbers
    only, so a missing name is the only gap (None, which numpy makes NaN)."""
    objects = [o for o in json.loads("[" + ",".join(texts) + "]") if isinstance(o, dict)]
    found = {}
    for name in set().union(*objects):
        values = [o.get(name) for o in objects]
        try:
            numbers = np.array(values, dtype=float)
        except (TypeError, ValueError):  # not a number after all: leave those out
            numbers = np.array([v if _is_number(v) else None for v in values], dtype=float)
        figure = name if name.startswith(PHASE) else METRIC + name
        found[figure] = _present(numbers)
    return {figure: values for figure, values in found.items() if len(values)}


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _present(values: np.ndarray) -> np.ndarray:
    """The finite values (NULL columns become NaN on the way in)."""
    return values[np.isfinite(values)]


def pooled(samples: list[Sample]) -> Sample:
    """Several sites' samples as one (the other sites of a test)."""
    together = Sample(sum(s.completed for s in samples), sum(s.failed for s in samples))
    for figure in set().union(*(s.values for s in samples)):
        together.values[figure] = np.concatenate(
            [s.values[figure] for s in samples if figure in s.values])
    return together


def from_records(jobs) -> dict[str, Sample]:
    """{site: Sample} of job records (appliance/ci/thresholds.py JobRecord): `hc run`'s
    comparison with a baseline, made from the tests' exports."""
    by_site: dict[str, list] = {}
    for job in jobs:
        if job.state in (JobState.COMPLETED, JobState.FAILED):
            by_site.setdefault(job.site, []).append(job)
    samples = {}
    for site, records in by_site.items():
        table = np.array([(1.0 if j.state == JobState.COMPLETED else 0.0, j.wall, j.cpu, j.queue)
                          for j in records], dtype=float)  # None becomes NaN
        sample = next(iter(_columns(np.column_stack([np.zeros(len(table)), table])).values()))
        done = [json.dumps(j.metrics) for j in records
                if j.state == JobState.COMPLETED and j.metrics]
        if done:
            sample.values.update(_metrics(done))
        samples[site] = sample
    return samples
