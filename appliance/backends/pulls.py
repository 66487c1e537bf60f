"""Image pulls shared by the jobs that need the same image.

A stress test submits hundreds of jobs of one image: the first submission pulls
it, the others wait for that pull and take its outcome (success or the
registry's reason), so the registry sees one pull, not one per job. An outcome
is kept for a while: a success by digest for the life of the process (a digest
names unchangeable content), any other for `REUSE_SECONDS`, so a failed pull is
retried a little later rather than by every job at once.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

POLICIES = ("always", "if-not-present", "never")
REUSE_SECONDS = 30.0  # how long a pull's outcome stands for (tags, failures)


@dataclass
class _Outcome:
    at: float
    error: str | None
    lasting: bool  # a digest pulled: valid for good


class SharedPulls:
    """One pull per key at a time, its outcome shared; thread safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._outcomes: dict[str, _Outcome] = {}
        self.pulls = 0  # pulls actually made (for tests and figures)

    def pull(self, key: str, function: Callable[[], None], by_digest: bool) -> str | None:
        """Run `function` (which raises on failure) unless a recent outcome for
        `key` stands; the error text of the pull, or None when it worked."""
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            known = self._outcomes.get(key)
            if known is not None and (known.lasting or
                                      self.clock() - known.at < REUSE_SECONDS):
                return known.error
            self.pulls += 1
            try:
                function()
                error = None
            except Exception as failure:  # noqa: BLE001 (the reason is what we keep)
                error = str(failure) or failure.__class__.__name__
            self._outcomes[key] = _Outcome(self.clock(), error, by_digest and error is None)
            return error

    def forget(self, key: str) -> None:
        with self._lock:
            self._outcomes.pop(key, None)


# One per process: every Docker site of a submit agent on the same daemon shares it.
SHARED = SharedPulls()
