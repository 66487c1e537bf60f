"""Throughput of the real agents: prints figures, asserts nothing.

    python bench/throughput.py local -n 2000     # N trivial jobs on the local backend
    python bench/throughput.py fake --running 10000   # one submit agent tracking 10k jobs

local: jobs/s from the first submission to the moment the last completion is in
the database, the submit agent's peak RSS, and job-row writes/s.
fake: time to reach the running target, the submit agent's peak RSS, and how
long after its simulated end each job's final state reached the database.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from peewee import fn  # noqa: E402

from appliance.db import open_database, upgrade  # noqa: E402
from appliance.models import Job, Test  # noqa: E402
from appliance.states import JOB_FINAL  # noqa: E402

FINAL = [s.value for s in JOB_FINAL]


class Instance:
    def __init__(self, extra: dict):
        self.root = tempfile.mkdtemp(prefix="hc-bench-")
        self.environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
        self.environ.update({"HC_DATA_DIR": self.root, "HC_LOG_LEVEL": "warning",
                             "HC_SERVER_INTERVAL": "0.2", "HC_SUBMIT_INTERVAL": "0.05"}, **extra)
        self.processes = {}
        open_database(f"sqlite:///{self.root}/hc.sqlite")
        upgrade()

    def hc(self, *argv, stdin=None):
        subprocess.run([sys.executable, "-m", "appliance", *argv], env=self.environ, check=True,
                       input=stdin, text=True, capture_output=True)

    def start(self, role):
        self.processes[role] = subprocess.Popen([sys.executable, "-m", "appliance", role],
                                                env=dict(self.environ, HC_HOSTNAME="bench"))
        return self.processes[role].pid

    def cpu_seconds(self, role) -> float:
        """User and system CPU the role's process has used so far."""
        with open(f"/proc/{self.processes[role].pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self, role) -> float:
        with open(f"/proc/{self.processes[role].pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def close(self):
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            process.wait(timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def setup(instance: Instance, backend: str, sites: int, settings: list[str], load: dict,
          command: str, duration: str) -> list[str]:
    names = [f"{backend}-{n}" for n in range(sites)]
    for name in names:
        instance.hc("site", "add", name, "--backend", backend, *settings)
    template = {"name": "bench", "duration": duration, "sites": names, "load": load,
                "job": {"command": command, "timeout": "10m"}}
    instance.hc("template", "add", "-", stdin=json.dumps(template))
    return names


def local(args) -> None:
    extra = {"HC_POLL_INTERVAL": "0.05"}
    work = None
    if args.work_dir:  # e.g. a tmpfs: the agent's own cost without this disk's
        work = tempfile.mkdtemp(prefix="hc-bench-work-", dir=args.work_dir)
        extra["HC_WORK_DIR"] = work
    instance = Instance(extra)
    try:
        per_site = args.n // args.sites
        setup(instance, "local", args.sites, [], {"max_running": args.in_flight // args.sites,
                                                  "job_cap": per_site}, "true", "1h")
        total = per_site * args.sites
        instance.start("server")
        instance.start("submit")
        instance.hc("test", "create", "bench", "--approve")
        while not Job.select().exists():
            time.sleep(0.01)
        cpu_before = instance.cpu_seconds("submit")
        while Job.select().where(Job.state.in_(FINAL)).count() < total:
            time.sleep(0.02)
        done = time.time()
        cpu = instance.cpu_seconds("submit") - cpu_before
        first = Job.select(Job.submitted_at).order_by(Job.submitted_at).limit(1).scalar()
        rss = instance.peak_rss_mb("submit")
        elapsed = done - first
        writes = 3 * total  # pending insert, submitted/running update, final update
        states = dict(Job.select(Job.state, fn.COUNT(Job.id)).group_by(Job.state).tuples())
        print(f"local backend: {total} jobs, {args.sites} sites, {args.in_flight} in flight, "
              f"work area on {_filesystem(work or instance.root)}")
        print(f"  jobs/s (first submit -> last completion recorded): {total / elapsed:.0f}"
              f"  ({elapsed:.2f} s)")
        print(f"  submit agent peak RSS: {rss:.1f} MB")
        print(f"  submit agent CPU per job: {1000 * cpu / total:.2f} ms (user and system, "
              f"from its first job row to the last completion)")
        print(f"  job row writes/s: {writes / elapsed:.0f}")
        print(f"  final states: {states}")
        raw = raw_spawn_rate(total, args.in_flight)
        print(f"  raw cost: spawning and reaping {total} `/bin/sh -c true` at most "
              f"{args.in_flight} at a time: {raw:.0f}/s (the agent reaches "
              f"{100 * total / elapsed / raw:.0f}% of it)")
        alone = wrapper_rate(total, args.in_flight, work)
        print(f"  the job wrapper alone (no agent, no database) running `true` the same way: "
              f"{alone:.0f}/s (the agent reaches {100 * total / elapsed / alone:.0f}% of it)")
    finally:
        instance.close()
        if work:
            shutil.rmtree(work, ignore_errors=True)


def _filesystem(path: str) -> str:
    """The type of the file system holding `path` (its creates cost what they cost)."""
    found, best = "?", ""
    with open("/proc/self/mounts") as handle:
        for line in handle:
            _, point, kind = line.split()[:3]
            inside = path == point or path.startswith(point.rstrip("/") + "/")
            if inside and len(point) > len(best):
                found, best = f"{kind} ({point})", point
    return found


def raw_spawn_rate(count: int, in_flight: int) -> float:
    """Processes/s of plain /bin/sh spawned and reaped, as the local backend does."""
    started, running, left = time.time(), 0, count
    while left or running:
        while left and running < in_flight:
            os.posix_spawn("/bin/sh", ["/bin/sh", "-c", "true"], {}, setsid=True)
            left, running = left - 1, running + 1
        os.wait()
        running -= 1
    return count / (time.time() - started)


def wrapper_rate(count: int, in_flight: int, where: str | None = None) -> float:
    """Jobs/s of the local backend's wrapper by itself: what any agent's rate is bounded
    by on this machine (it writes the pid, output and status files a restart needs)."""
    from appliance.backends.local import SHELL, WRAPPER

    root = tempfile.mkdtemp(prefix="hc-bench-wrapper-", dir=where)
    folders = [os.path.join(root, f"job-{n}") for n in range(count)]
    for folder in folders:
        os.mkdir(folder)
    started, running = time.time(), 0
    try:
        while folders or running:
            while folders and running < in_flight:
                os.posix_spawn(SHELL, [SHELL, "-c", WRAPPER, "hc-job", folders.pop(), "true"],
                               {"PATH": "/usr/bin:/bin"}, setsid=True)
                running += 1
            os.wait()
            running -= 1
        return count / (time.time() - started)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fake(args) -> None:
    poll = 1.0
    instance = Instance({"HC_POLL_INTERVAL": str(poll)})
    try:
        per_site = args.running // args.sites
        # Jobs must outlast the ramp-up (about 2,000 made per second), or the running
        # figure is never reached: 20-40 s up to 20,000 jobs, longer beyond.
        run = args.run_seconds or max(20, round(args.running / 1000))
        setup(instance, "fake", args.sites, ["--set", f"run_seconds={run}", "--set",
                                             f"run_seconds_max={2 * run}"],
              {"max_running": per_site}, "true", "1h")
        instance.start("server")
        started = time.time()
        instance.start("submit")
        instance.hc("test", "create", "bench", "--approve")
        active = Job.select().where(Job.state.not_in(FINAL))
        while active.count() < args.running:
            time.sleep(0.1)
        reached = time.time() - started
        worst, seen = 0.0, set()
        watching = time.time()
        until = watching + args.watch
        # Rows already final when the watch began are not timed (their delay is unknown).
        before = {job_id for (job_id,) in Job.select(Job.id).where(
            Job.state.in_(FINAL)).tuples()}
        long_ago = Job.select().where(Job.state.in_(FINAL), Job.ended_at < watching - 300)
        long_ago_before = long_ago.count()
        late = []
        while time.time() < until:
            now = time.time()
            # Only rows that ended at most 300 s before the watch began (a scan of every
            # final job each 0.2 s loaded the machine itself); older ones: `missed`.
            rows = Job.select(Job.id, Job.ended_at).where(
                Job.state.in_(FINAL), Job.ended_at >= watching - 300).tuples()
            for job_id, ended in rows:
                if job_id not in seen and job_id not in before:
                    seen.add(job_id)
                    worst = max(worst, now - ended)
                    if now - ended > 10:
                        late.append((job_id, round(now - ended, 1)))
            time.sleep(0.2)
        # Recorded during the watch but ended 300 s before it began: later than any timed.
        missed = long_ago.count() - long_ago_before
        rss = instance.peak_rss_mb("submit")
        print(f"fake backend: {args.running} concurrently running jobs on {args.sites} sites")
        print(f"  time to reach them: {reached:.1f} s")
        print(f"  submit agent peak RSS: {rss:.1f} MB")
        print(f"  jobs ended while watching {args.watch} s: {len(seen)}; worst delay from "
              f"simulated end to final state in the database: {worst:.2f} s "
              f"(poll interval {poll} s, sampling 0.2 s; {len(late)} rows more than 10 s "
              f"late, {missed} recorded while watching that ended 300 s before it)")
        if late:
            print(f"  the latest: {sorted(late, key=lambda r: -r[1])[:5]} (job id, s)")
        print(f"  simulated run time of a job: {run}-{2 * run} s")
        print(f"  tests: {[t.state for t in Test.select()]}")
    finally:
        instance.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="backend", required=True)
    one = sub.add_parser("local")
    one.add_argument("-n", type=int, default=2000)
    one.add_argument("--sites", type=int, default=4)
    one.add_argument("--in-flight", type=int, default=400)
    one.add_argument("--work-dir", help="where the work area goes (default: beside the "
                     "database, in a temporary folder); /dev/shm leaves out the disk")
    one.set_defaults(run=local)
    two = sub.add_parser("fake")
    two.add_argument("--running", type=int, default=10_000)
    two.add_argument("--sites", type=int, default=10)
    two.add_argument("--watch", type=float, default=45.0)
    two.add_argument("--run-seconds", type=int, default=0,
                     help="shortest simulated job (default: 20, or running/1000 if longer)")
    two.set_defaults(run=fake)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
