"""The samples of a settled test, kept: what a comparison reads of the test (per site,
outcome counts and every figure's values), computed once from its job rows.

A settled test's jobs no longer change (appliance/agents/jobbook.py settled), so its
samples are kept as one row; every later comparison of it reads that row instead
of a pass over up to millions of job rows (about 1.2 s for 100,000 jobs with
metrics, the larger part of a first comparison). The server agent keeps the
samples of stress tests as they settle (keep_settled); any other settled test's
are kept the first time it is compared. Retention removes them with the job rows.

The row is a small JSON index (sites, counts, figure names and where their values
lie) and then the values: sorted float64, little-endian, one run per figure.
Nothing in it is executed or unpickled on the way back.
"""
from __future__ import annotations

import json
import logging
import struct
import time

import numpy as np
from peewee import EXCLUDED, fn

from appliance.agents import jobbook
from appliance.compare import samples, sides
from appliance.compare.samples import Sample
from appliance.compare.sides import Side
from appliance.models import Test, TestSamples
from appliance.states import TEST_FINAL, Category

log = logging.getLogger(__name__)
FORMAT = 1       # of the row: another format is computed again, never misread
RECENT = 7 * 86400.0   # s: the server keeps samples of stress tests settled this lately
BUDGET = 10.0    # s one pass of keep_settled may take; the rest waits for the next pass
_HEADER = struct.Struct("<I")


def get(test_id: int) -> dict[int, Sample] | None:
    """The kept samples of a test, or None (none kept, or kept in another format)."""
    row = TestSamples.get_or_none(TestSamples.test == test_id)
    return decode(bytes(row.data)) if row is not None else None


def put(test_id: int, values: dict[int, Sample], now: float) -> None:
    """Keep `values`, in place of any kept before (the same settled job rows give the
    same values; a row of another format is replaced)."""
    TestSamples.insert(test=test_id, data=encode(values), computed_at=now).on_conflict(
        conflict_target=[TestSamples.test],
        update={TestSamples.data: EXCLUDED.data, TestSamples.computed_at: now}).execute()


def load(side: Side) -> dict[int, Sample]:
    """{site id: Sample} of a side: kept ones for a settled test (kept now if there
    were none), from the job rows otherwise (appliance/compare/samples.py)."""
    if side.test_id is None or not side.final:
        return samples.load(side)
    found = get(side.test_id)
    if found is None:
        found = samples.load(side)
        put(side.test_id, found, time.time())
    return found


def encode(values: dict[int, Sample]) -> bytes:
    index, runs, offset = [], [], 0
    for site_id, sample in sorted(values.items()):
        figures = []
        for name, figure in sorted(sample.values.items()):
            run = np.sort(np.asarray(figure, dtype="<f8"))
            figures.append([name, offset, len(run)])
            runs.append(run.tobytes())
            offset += len(run)
        index.append({"site": int(site_id), "completed": int(sample.completed),
                      "failed": int(sample.failed), "figures": figures})
    header = json.dumps({"format": FORMAT, "sites": index}).encode()
    return _HEADER.pack(len(header)) + header + b"".join(runs)


def decode(data: bytes) -> dict[int, Sample] | None:
    """The samples in a kept row; None for a row of another format or a damaged one
    (computed again from the job rows, never guessed)."""
    try:
        (size,) = _HEADER.unpack_from(data)
        header = json.loads(data[_HEADER.size:_HEADER.size + size])
        if header.get("format") != FORMAT:
            return None
        values = np.frombuffer(data, dtype="<f8", offset=_HEADER.size + size)
        found = {}
        for site in header["sites"]:
            counts = (site["site"], site["completed"], site["failed"])
            if not all(_whole(n) for n in counts):
                return None
            sample = Sample(site["completed"], site["failed"])
            for name, start, length in site["figures"]:
                if not (isinstance(name, str) and _whole(start) and _whole(length)
                        and start + length <= len(values)):
                    return None
                sample.values[name] = values[start:start + length]
            found[site["site"]] = sample
        return found
    except (struct.error, ValueError, KeyError, TypeError, AttributeError) as error:
        log.warning("kept samples unreadable (%s): computed again", error)
        return None


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def keep_settled(now: float, budget: float = BUDGET) -> list[int]:
    """Keep the samples of stress tests that settled lately and have none yet, so that
    their first comparison reads no job rows; the ids done (a pass stops after `budget`
    seconds, the next goes on)."""
    deadline = time.monotonic() + budget
    kept = TestSamples.select(TestSamples.test).where(TestSamples.test == Test.id)
    candidates = (Test.select().where(
        Test.category == Category.STRESS.value, Test.state.in_([s.value for s in TEST_FINAL]),
        Test.finished_at > now - RECENT, Test.finished_at <= now - jobbook.LATE_WINDOW,
        Test.jobs_removed_at.is_null(), ~fn.EXISTS(kept)).order_by(Test.finished_at.desc()))
    done = []
    for test in list(candidates):
        if time.monotonic() > deadline:
            break
        if not jobbook.settled(test, now):
            continue
        load(sides.parse(f"test:{test.id}", now))
        done.append(test.id)
    return done

