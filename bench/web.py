"""Render times of the heaviest web pages over a large database: prints figures, asserts nothing.

    python bench/web.py                       # 1,000,000 jobs in a throwaway folder
    python bench/web.py --keep /tmp/hc-web    # fill once, then reuse the database
                                              # (delete the folder if a fill was cut short)
    python bench/web.py --jobs 200000 --repeat 9

The database holds ~50 fake sites, functional tests every few minutes over 50
days (a few jobs per site each) and one stress test of 100,000 jobs on 10
sites. Each page is rendered once to warm up (and count its SQL queries), then
timed --repeat times. The target is 300 ms per page on SQLite.
"""
from __future__ import annotations

import argparse
import functools
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from peewee import chunked, fn  # noqa: E402
from playhouse.test_utils import count_queries  # noqa: E402

from appliance import config  # noqa: E402
from appliance.db import database, open_database, upgrade  # noqa: E402
from appliance.documents import check_site, save_template  # noqa: E402
from appliance.models import Job, Site, Template, Test, TestLog, TestSite  # noqa: E402
from appliance.states import Category, JobState, TestState  # noqa: E402

DAY = 86400.0
SITES = 50
DAYS = 50
STRESS_JOBS = 100_000
STRESS_SITES = 10
FUNCTIONAL_TEMPLATES = 6
JOBS_PER_SITE = 4  # functional jobs per site per test
FUNCTIONAL_SECONDS = 3600  # a functional test's period
CHUNK = 1000  # rows per INSERT
MAX_VARIABLES = 32766  # parameters per statement in SQLite since 3.32
TARGET_MS = 300
RUNNING_SHARE = 0.03  # of the stress test's jobs
HOST = "bench-submit"
FAILURE_REASONS = ("exit code 1: payload crashed", "stage-in failed: input file not found",
                   "wall time limit exceeded", "worker node lost")
JOB_FIELDS = [Job.test, Job.site, Job.attempt, Job.state, Job.backend_id, Job.submit_host,
              Job.created_at, Job.submitted_at, Job.started_at, Job.ended_at, Job.exit_code,
              Job.reason, Job.wall_seconds, Job.cpu_seconds, Job.metrics, Job.work_dir]
SUMMARY_STATES = ("pending", "queued", "running", "completed", "failed", "killed", "lost")


class Tally:
    """Counts by state for one test or test-site, turned into its summary columns."""

    def __init__(self):
        self.counts = dict.fromkeys(SUMMARY_STATES, 0)

    def add(self, state: str) -> None:
        self.counts[state] += 1

    def columns(self) -> dict:
        ended = self.counts["completed"] + self.counts["failed"]
        return {f"jobs_{s}": n for s, n in self.counts.items()} | {
            "jobs_total": sum(self.counts.values()), "summarized_at": time.time(),
            "efficiency": self.counts["completed"] / ended if ended else None}


class Batch:
    """Rows of some tests, inserted together in one transaction (tests before their jobs)."""

    def __init__(self):
        self.tests, self.test_sites, self.jobs, self.logs = [], [], [], []

    def flush(self) -> None:
        with database.atomic():
            for model, rows in ((Test, self.tests), (TestSite, self.test_sites),
                                (TestLog, self.logs)):
                if rows:
                    fields = _columns(model, rows[0])
                    insert(model, fields, [tuple(_db_value(f, row) for f in fields)
                                           for row in rows])
            insert(Job, JOB_FIELDS, self.jobs)
        self.__init__()


def _columns(model, row: dict) -> list:
    """Every column of `model`, but the primary key only when `row` gives it."""
    return [f for f in model._meta.sorted_fields if f.name in row or not f.primary_key]


def _db_value(field, row: dict):
    if field.name in row:
        return field.db_value(row[field.name])
    default = field.default() if callable(field.default) else field.default
    return field.db_value(default)


def insert(model, fields: list, rows: list[tuple]) -> None:
    """Multi-row INSERTs of database values, CHUNK rows at a time.

    The statement comes from insert_many, rendered once per chunk size and reused:
    peewee takes ~15 us to render each value, twenty times what SQLite takes to
    store it, so rendering every chunk would make the fill take minutes.
    """
    size = max(1, min(CHUNK, MAX_VARIABLES // len(fields)))
    for chunk in chunked(rows, size):
        params = [value for row in chunk for value in row]
        database.execute_sql(_statement(model, tuple(fields), len(chunk)), params)


@functools.cache
def _statement(model, fields: tuple, rows: int) -> str:
    placeholder = tuple(range(len(fields)))  # any non-NULL values: each becomes a "?"
    sql, params = model.insert_many([placeholder] * rows, fields=list(fields)).sql()
    assert len(params) == rows * len(fields), "a value was not passed as a parameter"
    return sql


def make_sites(rng: random.Random) -> list[dict]:
    """Sites with a failure rate each: most healthy, some poor, two broken for a while."""
    sites = []
    for number in range(SITES):
        name = f"SITE-{number:02d}"
        row = Site.create(**check_site(name, "fake", {}))
        Site.update(cloud=f"cloud-{number % 5}").where(Site.id == row.id).execute()
        rate = rng.choice((0.01, 0.02, 0.03, 0.05)) if number % 10 else 0.3
        broken = (rng.uniform(0, DAYS - 5), 3.0) if number % 17 == 3 else None
        sites.append({"id": row.id, "name": name, "rate": rate, "broken": broken})
    return sites


def make_templates(sites: list[dict]) -> tuple[list[Template], Template]:
    names = [s["name"] for s in sites]
    functional = [save_template({"name": f"functional-{n}", "category": "functional",
                                 "golden": n == 0, "duration": FUNCTIONAL_SECONDS,
                                 "sites": names, "job": {"command": "run-probe"}})
                  for n in range(FUNCTIONAL_TEMPLATES)]
    stress = save_template({"name": "stress-analysis", "category": "stress",
                            "sites": names[:STRESS_SITES], "job": {"command": "analyse"},
                            "load": {"max_running": 500, "min_queue_depth": 50}})
    return functional, stress


def test_row(test_id: int, template: Template, start: float, end: float, state: str,
             tally: Tally) -> dict:
    return {"id": test_id, "template": template.id, "category": template.category,
            "golden": template.golden, "command": "run", "timeout": 3600,
            "metrics_file": "metrics.json", "start_at": start, "end_at": end, "state": state,
            "submit_host": HOST, "owner": "bench", "created_at": start - 60} | tally.columns()


def test_site_row(test_id: int, site: dict, tally: Tally, jobs: int) -> dict:
    return {"test": test_id, "site": site["id"], "max_running": 1, "min_queue_depth": 0,
            "resubmit": True, "jobs_created": jobs} | tally.columns()


def job_row(rng: random.Random, test_id: int, site: dict, attempt: int, created: float,
            now: float, failure_rate: float, wall: float) -> tuple:
    """One job created at `created`, as database values in JOB_FIELDS order: where it
    is at `now` follows from its times."""
    submitted = created + rng.uniform(1, 10)
    started = submitted + rng.expovariate(1 / 120)
    ended = started + wall
    backend_id = f"fake-{test_id}-{site['id']}-{attempt}"
    common = (test_id, site["id"], attempt)
    if started > now:
        state = JobState.QUEUED.value if submitted <= now else JobState.PENDING.value
        return common + (state, backend_id, HOST, created, submitted if submitted <= now else None,
                         None, None, None, None, None, None, None, None)
    if ended > now:
        return common + (JobState.RUNNING.value, backend_id, HOST, created, submitted, started,
                         None, None, None, None, None, None, f"/data/work/{test_id}/{attempt}")
    if rng.random() < failure_rate:
        reason = rng.choice(FAILURE_REASONS)
        state = JobState.LOST.value if reason == FAILURE_REASONS[-1] else JobState.FAILED.value
        return common + (state, backend_id, HOST, created, submitted, started, ended, 1, reason,
                         wall, wall * 0.3, None, f"/data/work/{test_id}/{attempt}")
    metrics = Job.metrics.db_value(
        {"events": rng.randint(100, 5000), "cpu_efficiency": round(rng.random(), 3)}) \
        if rng.random() < 0.5 else None
    return common + (JobState.COMPLETED.value, backend_id, HOST, created, submitted, started,
                     ended, 0, None, wall, wall * rng.uniform(0.5, 0.95), metrics,
                     f"/data/work/{test_id}/{attempt}")


def site_rate(site: dict, moment: float, first_day: float) -> float:
    broken = site["broken"]
    if broken and broken[0] <= (moment - first_day) / DAY < broken[0] + broken[1]:
        return 0.9
    return site["rate"]


def add_functional(batch: Batch, rng: random.Random, test_id: int, template: Template,
                   sites: list[dict], start: float, now: float, first_day: float) -> None:
    end = start + FUNCTIONAL_SECONDS
    total, attempt = Tally(), 0
    for site in sites:
        tally = Tally()
        for _ in range(JOBS_PER_SITE):
            attempt += 1
            created = start + rng.uniform(0, FUNCTIONAL_SECONDS * 0.8)
            row = job_row(rng, test_id, site, attempt, created, now,
                          site_rate(site, created, first_day), rng.uniform(60, 900))
            batch.jobs.append(row)
            tally.add(_summary_state(row[3]))
            total.add(_summary_state(row[3]))
        batch.test_sites.append(test_site_row(test_id, site, tally, JOBS_PER_SITE))
    state = TestState.COMPLETED.value if end < now else TestState.RUNNING.value
    batch.tests.append(test_row(test_id, template, start, end, state, total))
    batch.logs += _log_lines(test_id, start, end, now)


def _summary_state(state: str) -> str:
    return "queued" if state == "submitted" else state


def _log_lines(test_id: int, start: float, end: float, now: float) -> list[dict]:
    lines = [(start - 60, "created from template in state scheduled"),
             (start, f"submitting on {HOST}")]
    if end < now:
        lines.append((end + 30, "completed: every job ended"))
    return [{"test": test_id, "at": at, "severity": "testinfo", "message": message,
             "actor": "server"} for at, message in lines]


def add_stress(batch: Batch, rng: random.Random, test_id: int, template: Template,
               sites: list[dict], jobs: int, now: float) -> None:
    """A stress test that started 36 h ago and runs 12 h more: its jobs spread evenly,
    but for RUNNING_SHARE created in the last 15 minutes (running or queued now)."""
    start, end = now - 1.5 * DAY, now + 0.5 * DAY
    total, per_site = Tally(), {s["id"]: Tally() for s in sites}
    for attempt in range(1, jobs + 1):
        site = sites[attempt % len(sites)]
        created = start + (now - start - 900) * attempt / jobs
        if rng.random() < RUNNING_SHARE:
            created = now - rng.uniform(0, 900)
        row = job_row(rng, test_id, site, attempt, created, now, site["rate"] * 1.5,
                      rng.lognormvariate(6.3, 0.5))
        batch.jobs.append(row)
        total.add(_summary_state(row[3]))
        per_site[site["id"]].add(_summary_state(row[3]))
    for site in sites:
        batch.test_sites.append(test_site_row(test_id, site, per_site[site["id"]],
                                              jobs // len(sites)))
    batch.tests.append(test_row(test_id, template, start, end, TestState.RUNNING.value, total))
    batch.logs += [{"test": test_id, "at": start + i * 600, "severity": severity,
                    "message": message, "actor": "submit"}
                   for i, (severity, message) in enumerate(
                       [("testinfo", "submitting"), ("queuecontrol", "raised max running to 500"),
                        ("warning", "SITE-00: many failures")] * 40)]


def fill(jobs: int, now: float) -> None:
    """Sites, templates and tests in time order; the stress test takes its place among them."""
    rng = random.Random(1)
    sites = make_sites(rng)
    functional, stress = make_templates(sites)
    stress_jobs = min(STRESS_JOBS, jobs // 10)
    tests = max(1, (jobs - stress_jobs) // (SITES * JOBS_PER_SITE))
    first_day = now - DAYS * DAY
    stress_start, stress_added, batch = now - 1.5 * DAY, False, Batch()
    for number in range(tests):
        start = first_day + number * (DAYS * DAY - FUNCTIONAL_SECONDS / 2) / tests
        if start >= stress_start and not stress_added:
            add_stress(batch, rng, number + 1, stress, sites[:STRESS_SITES], stress_jobs, now)
            batch.flush()
            stress_added = True
        test_id = number + 1 + stress_added
        add_functional(batch, rng, test_id, functional[number % len(functional)], sites,
                       start, now, first_day)
        if len(batch.jobs) >= 20 * CHUNK:
            batch.flush()
    batch.flush()


def stress_test() -> Test:
    return Test.select().where(Test.category == Category.STRESS.value).get()


def prepare(args) -> tuple[config.Config, str | None]:
    """Settings on a filled database: --keep reuses one, else a new temporary one."""
    folder = args.keep or tempfile.mkdtemp(prefix="hc-bench-web-")
    settings = config.load({"HC_DATA_DIR": folder, "HC_HOSTNAME": "bench",
                            "HC_LOG_LEVEL": "warning"})
    fresh = not os.path.exists(settings.database_url.removeprefix("sqlite:///"))
    open_database(settings.database_url)
    upgrade()
    if fresh:
        began = time.perf_counter()
        fill(args.jobs, time.time())
        seconds = time.perf_counter() - began
        print(f"fill: {Job.select().count():,} jobs, {Test.select().count():,} tests, "
              f"{TestSite.select().count():,} test-sites in {seconds:.1f} s")
    else:
        # The data ends when it was filled: days later the robot's window holds less of it.
        age = (time.time() - Job.select(fn.MAX(Job.created_at)).scalar()) / 3600
        print(f"reusing {folder}: {Job.select().count():,} jobs, filled {age:.1f} h ago")
    database.close()
    return settings, None if args.keep else folder


def pages() -> list[tuple[str, str]]:
    database.connect(reuse_if_open=True)
    site = Site.select(Site.name).order_by(Site.name).first().name
    paths = [("index", "/"), ("stress test", f"/tests/{stress_test().id}"),
             ("site", f"/sites/{site}"), ("site 50 days", f"/sites/{site}?days={DAYS}"),
             ("robot", f"/robot?days={DAYS}"), ("robot 7 days", "/robot"),
             ("test list", "/tests/")]
    database.close()
    return paths


def time_page(client, path: str, repeat: int) -> tuple[float, list[float], int]:
    """The first render's time in ms (which also counts the queries; a test's plots are
    made then and kept), then the times of `repeat` more renders."""
    began = time.perf_counter()
    with count_queries() as counter:
        response = client.get(path)
    first = 1000 * (time.perf_counter() - began)
    if response.status_code != 200:
        raise SystemExit(f"{path}: HTTP {response.status_code}")
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        client.get(path)
        times.append(1000 * (time.perf_counter() - began))
    return first, times, counter.count


def refresh_summary() -> None:
    """What the server agent does for a running test every summary interval, plot data
    included (at most every plotdata.PLOT_INTERVAL): its cost, printed. The server keeps
    the job rows it read between refreshes (appliance/reports/jobscan.py): the first
    heavy refresh after it starts reads them all, the next ones only the blocks that
    changed (here none: the bench's test gains no job in between)."""
    from appliance.reports import jobscan, plotdata, summary

    database.connect(reuse_if_open=True)
    test = stress_test()
    now = time.time()
    began = time.perf_counter()
    summary.refresh(test.id, now, final=True)
    final = time.perf_counter() - began
    began = time.perf_counter()
    summary.refresh(test.id, now + plotdata.PLOT_INTERVAL, keep=True)
    first = time.perf_counter() - began
    began = time.perf_counter()
    summary.refresh(test.id, now + 2 * plotdata.PLOT_INTERVAL, keep=True)
    heavy = time.perf_counter() - began
    began = time.perf_counter()
    summary.refresh(test.id, now + 2 * plotdata.PLOT_INTERVAL + 1, keep=True)  # counts only
    light = time.perf_counter() - began
    jobscan.keep_only([])
    every = plotdata.PLOT_INTERVAL / config.load({}).summary_interval
    print(f"summary and plot data of the {test.jobs_total or 0:,}-job test (server agent): "
          f"{1000 * heavy:.0f} ms with its job rows kept from the last refresh, "
          f"{1000 * first:.0f} ms the first time after a start, {1000 * final:.0f} ms when "
          f"the test ends (nothing kept); counts only: {1000 * light:.0f} ms; per refresh "
          f"over a plot interval (1 in {every:.0f} recomputes the plot data): "
          f"{1000 * (heavy + (every - 1) * light) / every:.0f} ms")
    database.close()


def benchmark(settings: config.Config, repeat: int) -> None:
    from appliance.web import create_app, warm_templates
    refresh_summary()
    app = create_app(settings)
    warm_templates(app)  # as gunicorn's entry point does (appliance/web/wsgi.py)
    client = app.test_client()
    print(f"{'page':<14} {'path':<22} {'first ms':>9} {'median ms':>10} {'max ms':>8} "
          f"{'queries':>8}")
    for label, path in pages():
        first, times, queries = time_page(client, path, repeat)
        median = statistics.median(times)
        flag = "" if max(first, median) <= TARGET_MS else f"  over {TARGET_MS} ms"
        print(f"{label:<14} {path:<22} {first:>9.0f} {median:>10.0f} {max(times):>8.0f} "
              f"{queries:>8}{flag}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs in total")
    parser.add_argument("--keep", metavar="DIR",
                        help="data folder to fill once and reuse (not removed)")
    parser.add_argument("--repeat", type=int, default=5, help="timed renders per page")
    args = parser.parse_args()
    settings, throwaway = prepare(args)
    try:
        benchmark(settings, args.repeat)
    finally:
        if throwaway:
            shutil.rmtree(throwaway, ignore_errors=True)


if __name__ == "__main__":
    main()
