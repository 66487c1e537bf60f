# The fault tests (tests/faults/) mount small tmpfs volumes to fill a work area or
# make it read-only: CI runs as root, so they must run (not skip) there.
if [ "$(id -u)" = 0 ]; then
    export HC_REQUIRE_MOUNT=1
fi
