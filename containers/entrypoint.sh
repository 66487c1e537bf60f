#!/bin/sh
# Container entry: check the role, prepare the database, then run the role's
# programs under supervisord. With arguments, run those instead (e.g. `hc site list`).
set -eu
role="${HC_ROLE:-all}"
case "$role" in
    all|web|server|submit) ;;
    *) echo "hc-entrypoint: HC_ROLE='$role' is not a role; valid roles: all, web, server, submit" >&2
       exit 2 ;;
esac
export HC_ROLE="$role"
if [ "$#" -gt 0 ]; then
    exec "$@"
fi
hc bootstrap
exec supervisord -c /etc/hc/supervisord.conf
