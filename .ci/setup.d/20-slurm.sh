# Slurm and munge from Debian; the tests start a single-node cluster of their own.
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    apt-get install -y -qq slurm-wlm munge >/dev/null
fi
export HC_REQUIRE_SLURM=1
