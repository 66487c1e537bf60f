"""The submit agent's free-space guard on the work volume (HC_WORK_MIN_FREE).

Below the limit the agent creates no jobs (each needs a folder) but keeps
polling and recording the running ones; it resumes by itself when space
returns. What it says: one line in each affected test's log when the guard
closes and one when it opens again (never per iteration), and `problem`, which
the heartbeat carries to the index, /metrics and the container health check.
"""
from __future__ import annotations

import logging

from appliance import disk

log = logging.getLogger(__name__)


class SpaceGuard:
    def __init__(self, work_dir: str, min_free: int):
        self.work_dir, self.min_free = work_dir, min_free
        self.problem: str | None = None
        self._told: set[int] = set()  # tests whose log says the guard is closed

    def check(self) -> bool:
        """Measure now; True when jobs may be created."""
        try:
            free = disk.space(self.work_dir).free
        except OSError as error:
            problem = f"work area {self.work_dir} cannot be measured: {error}"
        else:
            problem = None if free >= self.min_free else (
                f"work area {self.work_dir} has {disk.human(free)} free, below "
                f"HC_WORK_MIN_FREE ({disk.human(self.min_free)}): no new jobs until space "
                "returns")
        if problem != self.problem:
            (log.warning if problem else log.info)("%s", problem or "work area space returned")
        self.problem = problem
        return problem is None

    def closed_for(self, test_id: int) -> str | None:
        """The message to log for this test, once, while the guard is closed."""
        if self.problem is None or test_id in self._told:
            return None
        self._told.add(test_id)
        return self.problem

    def reopened_for(self) -> list[int]:
        """Tests to tell that jobs resume (once), now that the guard is open."""
        if self.problem is not None:
            return []
        told, self._told = sorted(self._told), set()
        return told
