"""How many jobs a site gets next: HammerCloud's load knobs as pure functions.

A site is kept at `max_running + min_queue_depth` jobs in flight (queued or
running): a batch system starts `max_running` of them and keeps the rest queued;
a backend without a queue simply runs them. Without resubmission only the first
wave is sent. `job_cap` bounds the jobs a site gets over the whole test.
"""
from __future__ import annotations

from appliance.knobs import target_in_flight


def jobs_to_submit(max_running: int, min_queue_depth: int, resubmit: bool,
                   job_cap: int | None, in_flight: int, created: int, batch: int) -> int:
    """Number of new jobs to submit to one site now."""
    target = target_in_flight(max_running, min_queue_depth)
    wanted = target - in_flight
    if not resubmit:
        wanted = min(wanted, target - created)
    if job_cap is not None:
        wanted = min(wanted, job_cap - created)
    return max(0, min(wanted, batch))


def site_done(max_running: int, min_queue_depth: int, resubmit: bool,
              job_cap: int | None, created: int) -> bool:
    """True when the site will never get another job in this test."""
    if job_cap is not None and created >= job_cap:
        return True
    return not resubmit and created >= target_in_flight(max_running, min_queue_depth)
