"""A simulated year of one appliance: rollup backfill, history pages, summary
refresh and retention over it. Prints figures, asserts nothing.

    python bench/year.py --keep /tmp/hc-year      # fill once (~5.3 M jobs), then measure
    python bench/year.py --jobs 500000            # a smaller year in a throwaway folder
    python bench/year.py --keep DIR --database postgresql://USER@HOST:PORT/DB

The year: 100 sites, two functional templates taking turns every hour, six jobs
per site each (a job every 10 minutes per site: ~5.26 M jobs over 365 days),
and a running stress test of 100,000 jobs on 10 sites. Rows are written with
multi-row INSERTs (bench/web.py), then:

1. the rollup backfill over every job (what migration 0016 does), first cut
   short by SIGINT after --interrupt seconds, then resumed: the cursor shows it
   goes on where it stood;
2. each page rendered (first time and median of --repeat), target 300 ms;
3. the summary refresh of the running stress test (server agent), target 200 ms;
4. retention with the default ages (HC_RETAIN_*) in scheduled passes of at most
   retention.BUDGET seconds, while a writer thread updates a job row every 20 ms
   (as a submit agent does): the longest a write waited, and the database size
   before and after;
5. the size of 1,000 real job folders and of their archive, to put the work
   area's figures in proportion.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import web  # noqa: E402  (bench/web.py: the bulk filler and the page timer)

from appliance import config, disk, retention, rollups  # noqa: E402
from appliance.db import database, open_database, upgrade  # noqa: E402
from appliance.models import (  # noqa: E402
    DailyRollup,
    Job,
    RollupBackfill,
    RollupMetric,
    Site,
    Test,
)
from appliance.states import TEST_FINAL  # noqa: E402

DAY = 86400.0
YEAR_JOBS = 100 * 144 * 365 + 100_000
web.SITES, web.DAYS, web.JOBS_PER_SITE, web.FUNCTIONAL_TEMPLATES = 100, 365, 6, 2


def settings_for(folder: str, url: str | None) -> config.Config:
    environ = {"HC_DATA_DIR": folder, "HC_HOSTNAME": "bench", "HC_LOG_LEVEL": "warning"}
    if url:
        environ["HC_DATABASE_URL"] = url
    return config.load(environ)


def fill(settings: config.Config, jobs: int) -> None:
    open_database(settings.database_url)
    upgrade()
    if Job.select().exists():
        print(f"reusing the database: {Job.select().count():,} jobs")
        return
    began = time.perf_counter()
    web.fill(jobs, time.time())
    # Tests that ended: they finished at their end (the agents record it as they end).
    Test.update(finished_at=Test.end_at + 30).where(
        Test.state.in_([s.value for s in TEST_FINAL])).execute()
    print(f"fill: {Job.select().count():,} jobs, {Test.select().count():,} tests in "
          f"{time.perf_counter() - began:.0f} s")


def backfill(settings: config.Config, interrupt: float) -> None:
    for model in (RollupBackfill, DailyRollup, RollupMetric):
        model.delete().execute()
    database.close()
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys; sys.path.insert(0, '.'); from appliance.db import open_database; "
        "from appliance import rollups; open_database(sys.argv[1]); "
        "rollups.backfill(progress=lambda line: print(line, flush=True))"),
        settings.database_url], stdout=subprocess.PIPE, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    time.sleep(interrupt)
    child.send_signal(signal.SIGINT)
    child.wait()
    last = (child.stdout.read().strip().splitlines() or ["(nothing yet)"])[-1]
    database.connect(reuse_if_open=True)
    cursor = RollupBackfill.get()
    print(f"backfill interrupted after {interrupt:.0f} s: last progress '{last}'; cursor at "
          f"job id {cursor.last_job_id:,} of {cursor.max_job_id:,}")
    began = time.perf_counter()
    lines = []
    counted = rollups.backfill(progress=lines.append)
    for line in lines[:: max(1, len(lines) // 5)] + lines[-1:]:
        print("  " + line)
    print(f"backfill resumed: {counted:,} more jobs in {time.perf_counter() - began:.0f} s; "
          f"{DailyRollup.select().count():,} rollup rows")
    total = sum(r.completed + r.failed + r.killed + r.lost for r in DailyRollup.select(
        DailyRollup.completed, DailyRollup.failed, DailyRollup.killed, DailyRollup.lost))
    final = Job.select().where(Job.state.in_(list(rollups.COUNTS))).count()
    print(f"check: rollups count {total:,} finished jobs, the job rows {final:,}")


def pages(settings: config.Config, repeat: int) -> None:
    from appliance.web import create_app, warm_templates
    web.refresh_summary()
    database.connect(reuse_if_open=True)
    site = Site.select(Site.name).order_by(Site.name).first().name
    stress = web.stress_test().id
    yesterday = web.DAY * (time.time() // web.DAY - 1)
    paths = [("index", "/"), ("test list", "/tests/"), ("stress test", f"/tests/{stress}"),
             ("site 50 days", f"/sites/{site}?days=50"),
             ("site 365 days", f"/sites/{site}?days=365"),
             ("robot 50 days", "/robot?days=50"), ("robot 365 days", "/robot?days=365"),
             ("site's jobs of a day", f"/sites/{site}/jobs?start={yesterday:.0f}"
                                      f"&end={yesterday + DAY:.0f}"),
             ("API history 365", f"/api/v1/sites/{site}/history?days=365")]
    database.close()
    app = create_app(settings)
    warm_templates(app)  # as gunicorn's entry point does (appliance/web/wsgi.py)
    client = app.test_client()
    print(f"{'page':<22} {'first ms':>9} {'median ms':>10} {'max ms':>8} {'queries':>8}")
    for label, path in paths:
        first, times, queries = web.time_page(client, path, repeat)
        median = statistics.median(times)
        flag = "" if max(first, median) <= web.TARGET_MS else f"  over {web.TARGET_MS} ms"
        print(f"{label:<22} {first:>9.0f} {median:>10.0f} {max(times):>8.0f} {queries:>8}"
              f"{flag}")


class Writer(threading.Thread):
    """A job row updated every 20 ms in its own transaction: how long each waited."""

    def __init__(self, job_id: int):
        super().__init__(daemon=True)
        self.job_id, self.waits, self.stop = job_id, [], threading.Event()

    def run(self) -> None:
        database.connect(reuse_if_open=True)
        while not self.stop.is_set():
            began = time.perf_counter()
            with database.atomic():
                Job.update(reason=f"heartbeat {began}").where(Job.id == self.job_id).execute()
            self.waits.append(1000 * (time.perf_counter() - began))
            time.sleep(0.02)
        database.close()


def size_of(settings: config.Config) -> str:
    size, _ = disk.database_size()
    return disk.human(size)


def apply_retention(settings: config.Config) -> None:
    database.connect(reuse_if_open=True)
    now = time.time()
    planned = retention.plan(settings, now)
    print(f"retention with the defaults (jobs {settings.retain_job_rows / DAY:.0f} d, logs "
          f"{settings.retain_test_logs / DAY:.0f} d): would remove {planned.job_rows:,} job "
          f"rows of {len(planned.tests.get('jobs', [])):,} tests; database {size_of(settings)}")
    running = Job.select(Job.id).where(Job.state == "running").first().id
    writer = Writer(running)
    writer.start()
    passes, began, longest = 0, time.perf_counter(), 0.0
    removed = 0
    while True:
        start = time.perf_counter()
        report = retention.run(settings, now)
        longest = max(longest, time.perf_counter() - start)
        passes += 1
        removed += report.job_rows + report.log_lines
        if report.finished:
            break
    writer.stop.set()
    writer.join()
    waits = sorted(writer.waits)
    print(f"retention: {removed:,} rows in {passes} passes ({time.perf_counter() - began:.0f} s, "
          f"longest pass {longest:.1f} s); job writes meanwhile: {len(waits):,}, median "
          f"{statistics.median(waits):.1f} ms, p99 {waits[int(0.99 * len(waits))]:.1f} ms, "
          f"max {waits[-1]:.1f} ms")
    print(f"after retention: {Job.select().count():,} job rows, database {size_of(settings)}")


def work_area_sample(folder: str, jobs: int = 1000) -> None:
    """Folders as the local backend leaves them: spec, stdout, stderr, metrics."""
    from appliance import archives, workarea
    root = os.path.join(folder, "sample")
    for number in range(jobs):
        job = workarea.job_dir(root, 1, "SITE-00", number)
        os.makedirs(job)
        workarea.write_json(os.path.join(job, workarea.SPEC_FILE), {
            "job_id": number, "command": "run-probe --quick", "environment": {"A": "1"},
            "work_dir": job, "timeout": 3600})
        with open(os.path.join(job, "stdout"), "w") as handle:
            handle.write("".join(f"{time.ctime()} step {i} ok\n" for i in range(40)))
        open(os.path.join(job, "stderr"), "w").close()
        workarea.write_json(os.path.join(job, "metrics.json"), {"events": number, "rate": 1.5})
    used = int(subprocess.run(["du", "-sk", workarea.test_dir(root, 1)], capture_output=True,
                              text=True).stdout.split()[0]) * 1024
    archives.pack(root, 1)
    packed = os.path.getsize(archives.path(root, 1))
    per_day = 100 * 144
    print(f"work area: {jobs} job folders take {disk.human(used)} on disk, their archive "
          f"{disk.human(packed)}; at {per_day:,} jobs a day the defaults keep ~"
          f"{disk.human(used / jobs * per_day * 7)} of folders (7 d) and ~"
          f"{disk.human(packed / jobs * per_day * 90)} of archives (90 d)")
    shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=YEAR_JOBS)
    parser.add_argument("--keep", metavar="DIR", help="data folder filled once and reused")
    parser.add_argument("--database", help="a PostgreSQL URL instead of SQLite in the folder")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--interrupt", type=float, default=10.0,
                        help="seconds before the first backfill is interrupted")
    parser.add_argument("--skip", default="", help="comma-separated steps to skip: "
                        "backfill,pages,retention,workarea")
    args = parser.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix="hc-bench-year-")
    skip = set(filter(None, args.skip.split(",")))
    settings = settings_for(folder, args.database)
    try:
        fill(settings, args.jobs)
        if "backfill" not in skip:
            backfill(settings, args.interrupt)
        if "pages" not in skip:
            database.close()
            pages(settings, args.repeat)
        if "retention" not in skip:
            apply_retention(settings)
            if "pages" not in skip:
                database.close()
                pages(settings, args.repeat)
        if "workarea" not in skip:
            work_area_sample(folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
