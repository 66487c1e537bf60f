"""Images from a registry: prints figures, asserts nothing.

    python bench/registry.py -n 50    # needs docker-registry and a Docker engine

Starts Debian's docker-registry on a free 127.0.0.1 port, pushes the busybox
test image, then measures: tag -> digest resolutions per second (manifest HEAD),
and N Docker jobs of one digest the daemon does not have yet, submitted through
the Docker backend (how many pulls the registry saw, submissions per second).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from appliance import registry  # noqa: E402
from appliance.backends import make_backend, pulls  # noqa: E402
from tests.backend_cases import make_spec  # noqa: E402
from tests.registry_server import LocalRegistry, build_image  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=50, help="jobs of one digest")
    parser.add_argument("--resolutions", type=int, default=200)
    args = parser.parse_args()
    server = LocalRegistry().start()
    try:
        image = build_image("hc-bench/registry-payload:1", f"bench-{os.getpid()}")
        server.push(image, "bench/payload:v1")
        started = time.perf_counter()
        for _ in range(args.resolutions):
            registry.pin(f"{server.address}/bench/payload:v1")
        took = time.perf_counter() - started
        print(f"tag -> digest: {args.resolutions / took:.0f} resolutions/s "
              f"({1000 * took / args.resolutions:.1f} ms each)")
        pinned = server.push_away(image, "bench/away:v1")
        backend = make_backend("docker", {}, "bench")
        folder = tempfile.mkdtemp(prefix="hc-bench-registry-")
        started = time.perf_counter()
        ids = {backend.submit(make_spec(folder, "true", image=pinned)): None
               for _ in range(args.n)}
        took = time.perf_counter() - started
        print(f"{args.n} Docker jobs of one digest not on the daemon: {pulls.SHARED.pulls} "
              f"pull(s), {args.n / took:.1f} submissions/s")
        backend.kill(ids)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
