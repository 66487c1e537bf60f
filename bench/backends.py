"""Real backends against their plain tools: prints figures, asserts nothing.

    python bench/backends.py slurm -n 500    # needs a running Slurm (SLURM_CONF)
    python bench/backends.py docker -n 500   # needs a Docker engine
    python bench/backends.py arc -n 100 --poll 1000   # starts a throwaway A-REX (root)

For each: N trivial jobs submitted through the appliance's backend (job folder,
script or container spec, submit, id file) against the same N through the plain
tool (`sbatch --wrap true` / `docker run -d`), as submissions per second, then
the time until every job has ended, polled in batches as the submit agent does.
With --start-cluster, a throwaway single-node Slurm cluster is started first.

For arc: rounds of N jobs through the backend (one submit_many: delegation,
script, xRSL, one request per 200 jobs, id files) against the same N jobs' xRSL
as one raw REST POST in the same run (who goes first alternates: the CE slows
as it fills), then one status poll of --poll jobs, raw and through the backend.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from appliance.backends import arcrest, make_backend  # noqa: E402
from appliance.backends.base import JobSpec  # noqa: E402
from appliance.states import JOB_FINAL  # noqa: E402


def specs(count: int, image: str | None, command: str = "true") -> list[JobSpec]:
    root = tempfile.mkdtemp(prefix="hc-bench-backend-")
    result = []
    for n in range(count):
        folder = os.path.join(root, f"job-{n}")
        os.makedirs(folder)
        result.append(JobSpec(n, 1, "bench", 1, command, image, {}, 600, folder,
                              os.path.join(folder, "metrics.json")))
    return result


def through_backend(backend, jobs: list[JobSpec]) -> tuple[float, float]:
    started = time.monotonic()
    ids = {backend.submit(spec): spec.work_dir for spec in jobs}
    submitted = time.monotonic() - started
    pending = dict(ids)
    while pending:
        for backend_id, status in backend.poll(pending).items():
            if status.state in JOB_FINAL:
                pending.pop(backend_id)
        time.sleep(backend.poll_interval)
    return submitted, time.monotonic() - started


def plain(argv_for, count: int, done) -> tuple[float, float]:
    started = time.monotonic()
    ids = [subprocess.run(argv_for(n), capture_output=True, text=True, check=True).stdout.strip()
           for n in range(count)]
    submitted = time.monotonic() - started
    while not done(ids):
        time.sleep(2.0)  # the same rhythm as the backend's polls
    return submitted, time.monotonic() - started


def report(name: str, count: int, ours: tuple[float, float], theirs: tuple[float, float]):
    print(f"{name}: {count} trivial jobs")
    print(f"  appliance backend: {count / ours[0]:.0f} submitted/s, all ended after "
          f"{ours[1]:.1f} s ({count / ours[1]:.0f} jobs/s)")
    print(f"  plain tool:        {count / theirs[0]:.0f} submitted/s, all ended after "
          f"{theirs[1]:.1f} s ({count / theirs[1]:.0f} jobs/s)")
    print(f"  overhead of the appliance: {100 * (ours[1] / theirs[1] - 1):+.0f}% end to end, "
          f"{100 * (ours[0] / theirs[0] - 1):+.0f}% on submission")


def slurm(args) -> None:
    cluster = None
    if args.start_cluster:
        from tests.backends.slurm_cluster import slurm_cluster
        cluster = slurm_cluster()
    backend = make_backend("slurm", {"poll_interval": 2.0})
    ours = through_backend(backend, specs(args.n, None))

    def done(ids):
        return subprocess.run(["squeue", "-h", "-j", ",".join(ids)], capture_output=True,
                              text=True).stdout.strip() == ""
    theirs = plain(lambda n: ["sbatch", "--parsable", "--output=/dev/null", "--wrap", "true"],
                   args.n, done)
    report("slurm", args.n, ours, theirs)
    if cluster:
        cluster.stop()


def docker(args) -> None:
    from tests.backends.docker_case import build_busybox_image
    image = build_busybox_image()
    backend = make_backend("docker", {"poll_interval": 0.2})
    ours = through_backend(backend, specs(args.n, image))
    label = f"hc-bench-{os.getpid()}"

    def done(ids):
        running = subprocess.run(["docker", "ps", "-q", "--filter", f"label={label}"],
                                 capture_output=True, text=True).stdout.split()
        return not running
    theirs = plain(lambda n: ["docker", "run", "-d", "--network", "none", "--label", label,
                              image, "true"], args.n, done)
    subprocess.run(f"docker rm -f $(docker ps -aq --filter label={label})", shell=True,
                   capture_output=True)
    report("docker", args.n, ours, theirs)


def arc(args) -> None:
    from tests.backends.arc_ce import ArcCE
    # Few jobs in the batch system at once: the rest wait at the CE, so that the
    # status poll measures the poll, not the fetching of ended jobs.
    ce = ArcCE(args.lrms, arex_options=f"maxjobs = 100000 {args.running} -1 -1 -1").start()
    try:
        print(f"arc ({args.lrms}): A-REX up in {ce.startup_seconds:.1f} s; "
              f"{args.rounds} rounds of {args.n} jobs, alternating who goes first")
        backend = make_backend("arc", ce.site_settings(poll_interval=1.0))
        raw = _raw_rest(ce)
        ids: list[str] = []
        folders: dict[str, str] = {}
        rates: dict[str, list[float]] = {}
        for round_number in range(args.rounds):
            jobs = specs(args.n, None, "sleep 600")
            descriptions = _descriptions(backend, specs(args.n, None, "sleep 600"), raw)
            minimal = [MINIMAL_XRSL.format(queue=ce.queue, delegation=raw.delegation)] * args.n
            steps = [("backend", lambda jobs=jobs: backend.submit_many(jobs)),
                     ("raw", lambda d=descriptions: raw.submit(arcrest.many(d))),
                     ("raw-min", lambda d=minimal: raw.submit(arcrest.many(d)))]
            steps = steps[round_number % 3:] + steps[:round_number % 3]
            for name, step in steps:
                started = time.monotonic()
                outcome = step()
                elapsed = time.monotonic() - started
                accepted = [o for o in outcome if isinstance(o, str)] if name == "backend" \
                    else [o["id"] for o in outcome if str(o.get("status-code")) == "201"]
                rates.setdefault(name, []).append(len(accepted) / elapsed)
                ids += accepted
                if name == "backend":
                    folders.update(_ids_to_folders(outcome, jobs))
                print(f"  round {round_number + 1} {name:7}: {len(accepted)} jobs in "
                      f"{elapsed:.2f} s ({len(accepted) / elapsed:.0f} jobs/s)")
        median = {name: statistics.median(values) for name, values in rates.items()}
        print(f"  submission, median of rounds: appliance backend {median['backend']:.0f} "
              f"jobs/s, raw bulk REST of the same xRSL {median['raw']:.0f} jobs/s, raw bulk "
              f"REST of a minimal xRSL {median['raw-min']:.0f} jobs/s")
        while len(folders) < args.poll:
            more = specs(min(200, args.poll - len(folders)), None, "sleep 600")
            folders.update(_ids_to_folders(backend.submit_many(more), more))
        _poll_figures(backend, raw, folders)
        _own_work(backend, args.n)
    finally:
        ce.stop()


# The smallest job A-REX takes over REST (as in the notes' 168 jobs/s figure).
MINIMAL_XRSL = ('&(executable="/bin/sleep")(arguments="600")(stdout="stdout")(stderr="stderr")'
                '(outputfiles=("/" ""))(queue="{queue}")(delegationid="{delegation}")')


def _ids_to_folders(outcomes: list, jobs: list[JobSpec]) -> dict[str, str]:
    return {o: j.work_dir for o, j in zip(outcomes, jobs, strict=True) if isinstance(o, str)}


def _raw_rest(ce):
    """A bare client of the CE with a delegation of its own: the raw tool."""
    from appliance import gridcert
    client = arcrest.Client(ce.endpoint, ce.ca_dir, 120)
    client.use_proxy(ce.proxy)
    answer = client.call("POST", "/delegations?action=new")
    client.delegation = answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    with open(ce.proxy, "rb") as handle:
        identity = gridcert.load_identity(handle.read())
    client.call("PUT", f"/delegations/{client.delegation}",
                data=gridcert.sign_delegation(identity, answer.content, time.time()))
    return client


def _descriptions(backend, jobs: list[JobSpec], raw) -> list[str]:
    """The very xRSL the backend sends for these jobs, made before the clock runs."""
    return [arcrest.xrsl(j, backend._script(j, "metrics.json"), backend.settings["queue"],
                         raw.delegation, 86400) for j in jobs]


def _poll_figures(backend, raw, folders: dict[str, str]) -> None:
    started = time.monotonic()
    states = raw.jobs_action("status", list(folders))
    status_call = time.monotonic() - started
    started = time.monotonic()
    polled = backend.poll(folders)
    poll = time.monotonic() - started
    ended = sum(1 for s in polled.values() if s.state in JOB_FINAL)
    print(f"  status of {len(states)} jobs: raw REST call {status_call:.2f} s; backend poll "
          f"{poll:.2f} s ({len(folders) / poll:.0f} jobs/s, {ended} ended and fetched in it)")


def _own_work(backend, count: int) -> None:
    """The backend's side of a submission alone (script, xRSL, id files), the CE
    answering at once: what it could do were the CE faster."""
    real = backend.client.submit
    backend.client.submit = lambda text: [{"status-code": "201", "id": f"bench{n}"}
                                          for n in range(text.count("(&") or 1)]
    try:
        jobs = specs(count, None, "sleep 600")
        started = time.monotonic()
        backend.submit_many(jobs)
        elapsed = time.monotonic() - started
    finally:
        backend.client.submit = real
    print(f"  the backend's own work for {count} jobs (CE answering at once): {elapsed:.3f} s "
          f"({count / elapsed:.0f} jobs/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="backend", required=True)
    one = sub.add_parser("slurm")
    one.add_argument("-n", type=int, default=500)
    one.add_argument("--start-cluster", action="store_true")
    one.set_defaults(run=slurm)
    two = sub.add_parser("docker")
    two.add_argument("-n", type=int, default=500)
    two.set_defaults(run=docker)
    three = sub.add_parser("arc")
    three.add_argument("-n", type=int, default=100)
    three.add_argument("--poll", type=int, default=1000, help="jobs in the status poll")
    three.add_argument("--lrms", choices=("fork", "slurm"), default="fork")
    three.add_argument("--rounds", type=int, default=3, help="submission rounds")
    three.add_argument("--running", type=int, default=10,
                       help="jobs the CE lets into its batch system at once (maxjobs)")
    three.set_defaults(run=arc)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
