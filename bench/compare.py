"""Compare two finished tests of 100,000 jobs each on 10 sites with 5 payload metrics.

    .venv/bin/python bench/compare.py [JOBS_PER_TEST] [DATABASE_FILE]

Fills a SQLite database (kept in DATABASE_FILE when given, reused by the next run)
with two completed tests, the second with one slower site, then prints, in order:
the seconds of a comparison that reads the job rows, of the server keeping the
tests' samples as they settle (appliance/compare/samplestore.py), of a first
comparison then (every test and the bootstrap), of the same comparison read back
from the kept result, the raw cost of reading the same
job rows with one plain SELECT (sqlite3 only), and the verdicts that differ from
"no significant difference".
"""
from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from appliance.db import open_database, upgrade  # noqa: E402
from appliance.models import Comparison, Site, Test, TestSamples  # noqa: E402
from tests.compare.jobs import finished_test  # noqa: E402
from tests.factories import make_site, make_template  # noqa: E402

SITES = 10


def fill(jobs: int) -> tuple[int, int]:
    sites = [make_site(f"SITE{i:02d}") for i in range(SITES)]
    template = make_template("bench", sites=sites, category="stress")
    each = {s.name: jobs // SITES for s in sites}
    a = finished_test(template, 1.8e9, each, seed=1, metrics=5, failure_rate=0.02)
    b = finished_test(template, 1.8e9 + 7200, each, seed=2, metrics=5, failure_rate=0.02,
                      wall={"SITE03": 110.0})
    return a.id, b.id


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(tempfile.mkdtemp(), "hc.db")
    open_database(f"sqlite:///{path}")
    upgrade()
    if Site.select().count() == 0:
        started = time.perf_counter()
        ids = fill(jobs)
        print(f"filled {2 * jobs} jobs in {time.perf_counter() - started:.0f} s")
    else:
        ids = tuple(t.id for t in Test.select().order_by(Test.id).limit(2))
    from appliance.compare import engine, samplestore, stats  # noqa: F401 (numpy, scipy first)

    # An hour after the second test settled (its jobs can no longer change).
    now = 1.8e9 + 7200 + 86400
    a, b = f"test:{ids[0]}", f"test:{ids[1]}"
    Comparison.delete().execute()
    TestSamples.delete().execute()
    started = time.perf_counter()
    engine.compare(a, b, now=now)
    cold = time.perf_counter() - started
    TestSamples.delete().execute()
    started = time.perf_counter()
    kept_tests = samplestore.keep_settled(now, budget=600)
    keeping = time.perf_counter() - started
    Comparison.delete().execute()
    started = time.perf_counter()
    result = engine.compare(a, b, now=now)
    first = time.perf_counter() - started
    started = time.perf_counter()
    engine.compare(a, b, now=now)
    kept = time.perf_counter() - started
    started = time.perf_counter()
    with sqlite3.connect(path) as raw:
        raw.execute("SELECT site_id, state, wall_seconds, cpu_seconds, submitted_at, "
                    "started_at, metrics FROM job WHERE test_id IN (?, ?)", ids).fetchall()
    plain = time.perf_counter() - started
    print(f"compare, nothing kept (job rows read): {cold:.3f} s")
    print(f"samples kept by the server as the tests settled: {keeping:.3f} s "
          f"({len(kept_tests)} tests, {keeping / max(1, len(kept_tests)):.3f} s each)")
    print(f"compare, first (samples kept): {first:.3f} s ({len(result['rows'])} rows)")
    print(f"compare, kept: {kept:.3f} s")
    print(f"plain SELECT of the same job rows: {plain:.3f} s")
    for row in result["rows"]:
        if row["verdict"] != "no significant difference":
            print(f"  {row['site']} {row['figure']}: {row['verdict']}")


if __name__ == "__main__":
    main()
