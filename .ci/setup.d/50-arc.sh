# NorduGrid ARC (A-REX with its REST interface, the client tools for arcproxy and
# arcctl test-ca) from Debian; tests/backends/arc_ce.py brings up a throwaway CE.
ARC_PACKAGES="nordugrid-arc-arex nordugrid-arc-client nordugrid-arc-plugins-needed
    nordugrid-arc-arcctl-service nordugrid-arc-plugins-arcrest"
# shellcheck disable=SC2086
if ! dpkg -s $ARC_PACKAGES >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends $ARC_PACKAGES >/dev/null
fi
export HC_REQUIRE_ARC=1
