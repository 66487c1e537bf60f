# PostgreSQL from Debian: the tests start their own throwaway server with it.
if ! command -v /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get install -y -qq postgresql >/dev/null
fi
export HC_REQUIRE_POSTGRES=1
