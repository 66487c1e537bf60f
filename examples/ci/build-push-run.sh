#!/usr/bin/env bash
# The CI steps of examples/ci (GitLab and GitHub run this same script):
#   build the payload image -> push it -> hc run it BY DIGEST -> JUnit + HTML report.
# Running by digest means every job of the test runs exactly the image this
# pipeline built, whatever happens to the tag meanwhile.
#
#   PAYLOAD_REPOSITORY  REGISTRY/NAME to push to (required), e.g. registry.example.org/me/payload
#   PAYLOAD_TAG         tag to push (required), e.g. the commit id
#   PAYLOAD_CONTEXT     build context (default .); PAYLOAD_CONTAINERFILE (default Containerfile)
#   PAYLOAD_BASE_IMAGE  passed as --build-arg BASE_IMAGE when set
#   PAYLOAD_TEMPLATE    the template hc run executes (default examples/ci/payload-check.yaml)
#   HC                  the hc command (default hc)
# Further arguments go to `hc run` (thresholds, --url for a running instance, ...).
# For a registry that needs credentials, log in first (docker login) and give the
# appliance the same config.json: HC_REGISTRY_AUTH_FILE=~/.docker/config.json.
# Exit codes are hc run's: 0 thresholds hold, 1 a threshold failed, 2 usage or
# infrastructure error (also when the build or the push fails).
set -euo pipefail
: "${PAYLOAD_REPOSITORY:?give REGISTRY/NAME}" "${PAYLOAD_TAG:?give a tag}"
image="$PAYLOAD_REPOSITORY:$PAYLOAD_TAG"
context=${PAYLOAD_CONTEXT:-.}

build_args=()
[ -n "${PAYLOAD_BASE_IMAGE:-}" ] && build_args=(--build-arg "BASE_IMAGE=$PAYLOAD_BASE_IMAGE")
docker build -q -t "$image" "${build_args[@]}" \
    -f "$context/${PAYLOAD_CONTAINERFILE:-Containerfile}" "$context" >/dev/null || exit 2
pushed=$(docker push "$image") || { echo "$pushed" >&2; exit 2; }
digest=$(printf '%s\n' "$pushed" | sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p' | tail -n 1)
[ -n "$digest" ] || { echo "no digest in the push output" >&2; exit 2; }
echo "pushed $image as $PAYLOAD_REPOSITORY@$digest"

exec ${HC:-hc} run "${PAYLOAD_TEMPLATE:-examples/ci/payload-check.yaml}" \
    --image "$PAYLOAD_REPOSITORY@$digest" --wait \
    --junit hc-junit.xml --report hc-report.html "$@"
