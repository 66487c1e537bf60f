"""How many new jobs one iteration of the submit agent makes: those that fit before the
sites are due to be polled again, so that seeing and recording the jobs that ended never
waits behind making new ones.

Making a job costs a row, a folder, its spec file and a spawn or a backend call: 1-2 ms
on this machine's disk. An iteration that refilled 10 sites of 10,000 jobs by up to 500
jobs each spent 10 s making jobs while the ended ones waited to be seen: 4.8 s from a
job's end to its row at 100,000 running jobs, against two poll intervals. Now an
iteration makes jobs until one poll interval (`cycle`) has passed since it began, and
for at least MIN_SHARE of one however long the polls took (the load is kept, more
slowly, when polling alone fills the interval). The cost per job is learnt from the
submissions (a moving average), so a submission is cut to what fits, on any backend;
after a cut the submit agent turns the order of its sites, so that the same ones are
not always last.
"""
from __future__ import annotations

import threading
import time

LEARNING = 0.3   # weight of the newest submission in the moving average of cost per job
MIN_SHARE = 0.25  # of a poll interval: time for making jobs in any iteration
MIN_CYCLE = 0.5  # s: a shorter poll interval (a test's setting) still leaves this long


class Pace:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._began = clock()
        self._per_job = 0.0  # seconds per job made, learnt; 0 until the first submission
        self._spent = 0.0    # seconds spent making jobs in this iteration
        self._lock = threading.Lock()  # sites on their own threads submit at once

    def start_iteration(self) -> None:
        with self._lock:
            self._began, self._spent = self._clock(), 0.0

    def allowed(self, wanted: int, cycle: float) -> int:
        """How many of `wanted` new jobs to make now, in an iteration that should end one
        poll interval (`cycle` seconds) after it began; at least one while any time is
        left, so that every site progresses."""
        cycle = max(cycle, MIN_CYCLE)
        with self._lock:
            left = max(self._began + cycle - self._clock(), MIN_SHARE * cycle - self._spent)
            if wanted <= 0 or left <= 0:
                return 0
            if self._per_job <= 0:
                return wanted
            return max(1, min(wanted, int(left / self._per_job)))

    def spent(self, jobs: int, seconds: float) -> None:
        """`jobs` were made in `seconds`."""
        if jobs <= 0:
            return
        with self._lock:
            self._spent += seconds
            cost = seconds / jobs
            self._per_job = cost if self._per_job <= 0 else \
                (1 - LEARNING) * self._per_job + LEARNING * cost
