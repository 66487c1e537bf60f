# Docker engine, compose v1 and debootstrap from Debian; dockerd started here; the
# base images built from Debian's packages (kept when already present).
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1 \
        || ! command -v debootstrap >/dev/null 2>&1 || ! command -v busybox >/dev/null 2>&1; then
    apt-get install -y -qq docker.io docker-compose debootstrap busybox-static >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
    dockerd > /tmp/dockerd.log 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
docker info >/dev/null
scripts/build-base-images
export HC_BASE_IMAGE=hc-base/python:3.11-bookworm
export HC_REQUIRE_DOCKER=1
