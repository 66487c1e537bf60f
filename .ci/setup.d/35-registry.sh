# A container registry (Debian's docker-registry; the tests start their own on a free
# 127.0.0.1 port) and podman, the container runtime of the Slurm sites' workers.
if ! command -v docker-registry >/dev/null 2>&1 || ! command -v podman >/dev/null 2>&1; then
    apt-get install -y -qq docker-registry podman >/dev/null
fi
export HC_REQUIRE_REGISTRY=1
export HC_REQUIRE_PODMAN=1
