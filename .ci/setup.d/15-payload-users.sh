# Payload isolation: the local backend runs payloads as other uids, which needs
# the right to switch users (CI runs as root). The tests then must not skip.
if [ "$(id -u)" = 0 ]; then
    export HC_REQUIRE_SWITCH_USER=1
fi
