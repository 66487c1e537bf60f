"""Real backends against their plain tools: prints figures, asserts nothing.

    python bench/backends.py slurm -n 500    # needs a running Slurm (SLURM_CONF)
    python bench/backends.py docker -n 500   # needs a Docker engine

For each: N trivial jobs submitted through the appliance's backend (job folder,
script or container spec, submit, id file) against the same N through the plain
tool (`sbatch --wrap true` / `docker run -d`), as submissions per second, then
the time until every job has ended, polled in batches as the submit agent does.
With --start-cluster, a throwaway single-node Slurm cluster is started first.
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
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
