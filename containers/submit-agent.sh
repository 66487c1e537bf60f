#!/bin/sh
# The submit agent, holding what it needs to start local payloads as their own uid
# (HC_PAYLOAD_USER) and nothing more: the capabilities setuid, setgid, chown and kill,
# raised by hc-caps (util-linux's setpriv with exactly those file capabilities, runnable
# by group hc only). Payloads get none of them (appliance/backends/local.py).
# Where capabilities cannot be had (no-new-privileges, cap_drop: ALL) the agent runs
# without them and says so: its local site checks fail with the reason.
caps="+setuid,+setgid,+chown,+kill"
helper=/usr/local/libexec/hc-caps
if [ -n "${HC_PAYLOAD_USER:-}" ]; then
    if "$helper" --inh-caps="$caps" --ambient-caps="$caps" -- true 2>/dev/null; then
        exec "$helper" --inh-caps="$caps" --ambient-caps="$caps" -- hc submit
    fi
    echo "hc-submit-agent: no capabilities to run payloads as HC_PAYLOAD_USER=$HC_PAYLOAD_USER" \
         "(no-new-privileges or dropped capabilities?): local payloads cannot start" >&2
fi
exec hc submit
