"""Real backends against their plain tools: prints figures, asserts nothing.

    python bench/backends.py slurm -n 500    # needs a running Slurm (SLURM_CONF)
    python bench/backends.py docker -n 500   # needs a Docker engine
    python bench/backends.py arc -n 100 --poll 1000   # starts a throwaway A-REX (root)

For each: N trivial jobs submitted through the appliance's backend (job folder,
script or container spec, submit, id file) against the same N through the plain
tool (`sbatch --wrap true` / `docker run -d`), as submissions per second, then
the time until every job has ended, polled in batches as the submit agent does.
With --start-cluster, a throwaway single-node Slurm cluster is started first.

For arc: N jobs through the backend (one submit_many: delegation, xRSL, one
request per 200 jobs, id files) against the same N as one raw REST POST of a
multi-job xRSL in the same run, then the time of one status poll of --poll jobs.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from appliance.backends import make_backend  # noqa: E402
from appliance.backends.base import JobSpec  # noqa: E402
from appliance.states import JOB_FINAL  # noqa: E402


def specs(count: int, image: str | None) -> list[JobSpec]:
    root = tempfile.mkdtemp(prefix="hc-bench-backend-")
    result = []
    for n in range(count):
        folder = os.path.join(root, f"job-{n}")
        os.makedirs(folder)
        result.append(JobSpec(n, 1, "bench", 1, "true", image, {}, 600, folder,
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
    import requests

    from appliance import gridcert
    from tests.backends.arc_ce import ArcCE
    ce = ArcCE(args.lrms).start()
    try:
        print(f"arc ({args.lrms}): A-REX up in {ce.startup_seconds:.1f} s")
        backend = make_backend("arc", ce.site_settings(poll_interval=1.0))
        jobs = specs(args.n, None)
        started = time.monotonic()
        ids = backend.submit_many(jobs)
        ours = time.monotonic() - started
        assert all(isinstance(i, str) for i in ids), ids[:3]
        raw = requests.Session()
        raw.trust_env, raw.verify, raw.cert = False, ce.ca_dir, ce.proxy
        base = ce.endpoint + "/rest/1.0"
        answer = raw.post(base + "/delegations?action=new")
        delegation = answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        with open(ce.proxy, "rb") as handle:
            identity = gridcert.load_identity(handle.read())
        raw.put(f"{base}/delegations/{delegation}",
                data=gridcert.sign_delegation(identity, answer.content, time.time()))
        one = ('&(executable="/bin/sh")(arguments="-c" "true")(stdout="stdout")'
               f'(stderr="stderr")(outputfiles=("/" ""))(queue="{ce.queue}")'
               f'(delegationid="{delegation}")')
        started = time.monotonic()
        answer = raw.post(base + "/jobs?action=new", data="+" + f"({one})" * args.n,
                          headers={"Content-Type": "application/rsl",
                                   "Accept": "application/json"})
        theirs = time.monotonic() - started
        accepted = sum(str(j.get("status-code")) == "201" for j in answer.json()["job"])
        print(f"  submission of {args.n} jobs: appliance backend {args.n / ours:.0f} jobs/s "
              f"({ours:.2f} s), raw bulk REST {accepted / theirs:.0f} jobs/s ({theirs:.2f} s, "
              f"{accepted} accepted)")
        more = specs(max(0, args.poll - args.n), None)
        ids += backend.submit_many(more) if more else []
        folders = {i: s.work_dir for i, s in zip(ids, jobs + more, strict=True)}
        started = time.monotonic()
        states = backend.client.jobs_action("status", list(folders))
        status_call = time.monotonic() - started
        started = time.monotonic()
        polled = backend.poll(folders)
        poll = time.monotonic() - started
        ended = sum(1 for s in polled.values() if s.state in JOB_FINAL)
        print(f"  status of {len(states)} jobs: one REST call {status_call:.2f} s; "
              f"backend poll {poll:.2f} s ({ended} of them ended and fetched in it)")
        backend.kill({i: f for i, f in folders.items()})
    finally:
        ce.stop()


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
    three.set_defaults(run=arc)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
