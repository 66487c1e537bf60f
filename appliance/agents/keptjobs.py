"""The active jobs of each (test, site) a submit agent serves, kept between iterations.

At 100,000 running jobs, reading every active row again each iteration was half of
the agent's time, and it held back the moment an ended job reached the database.
The database stays the truth: a kept list is used only while

- the test's lease is the one it was kept under (another holder may have written),
- and the database's fingerprint of the site's active jobs (their count and the sum
  of their ids, one pass over the (test, state, site) index, no rows sent) equals
  the list's own: a job that became final, or appeared, behind the agent's back
  shows up there, and the rows are read again.

The agent hands back the list it ends an iteration with: what its own guarded writes
left active (each kept job holds what was written; a job whose write was refused,
decided by someone else, is read again by id) and the jobs it just made, read by id.
An iteration that fails half way hands back nothing: its site's rows are read again.
"""
from __future__ import annotations

import threading

from appliance.agents import jobbook
from appliance.agents.jobbook import ActiveJob
from appliance.agents.lease import Lease


class KeptJobs:
    def __init__(self):
        self._kept: dict[tuple[int, int], tuple[Lease, list[ActiveJob]]] = {}
        self._lock = threading.Lock()  # site threads keep their lists at once

    def active(self, lease: Lease, site_id: int) -> list[ActiveJob]:
        """The site's active jobs of the test: the kept list when the database agrees."""
        key = (lease.test_id, site_id)
        with self._lock:
            kept = self._kept.pop(key, None)
        if kept is not None and kept[0] == lease:
            jobs = kept[1]
            if jobbook.active_fingerprint(lease.test_id, site_id) == fingerprint(jobs):
                return jobs
        return jobbook.active_jobs(lease.test_id, site_id)

    def keep(self, lease: Lease, site_id: int, jobs: list[ActiveJob]) -> None:
        with self._lock:
            self._kept[(lease.test_id, site_id)] = (lease, jobs)

    def forget_all_but(self, test_ids: set[int]) -> None:
        with self._lock:
            self._kept = {k: v for k, v in self._kept.items() if k[0] in test_ids}


def fingerprint(jobs: list[ActiveJob]) -> tuple[int, int]:
    """What jobbook.active_fingerprint reads for the same jobs: (count, sum of ids)."""
    return len(jobs), sum(job.id for job in jobs)
