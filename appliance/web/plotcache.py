"""Rendered plots of a test, kept per web app (one per worker): a test's plots cost a few
passes over its jobs and a pygal render each, and its page reloads itself.

A finished test's jobs never change again, so its plots are kept until evicted
(least recently used first); those of a test in progress for FRESH_FOR seconds.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

FRESH_FOR = 10.0  # s: about the server agent's summary interval
SIZE = 64         # tests whose plots are kept


class PlotCache:
    def __init__(self, size: int = SIZE, fresh_for: float = FRESH_FOR):
        self.size = size
        self.fresh_for = fresh_for
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, final: bool, make: Callable[[], dict], now: float | None = None) -> dict:
        """The plots for `key` (made by `make()` when missing or stale)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (entry[0] or now - entry[1] < self.fresh_for):
                self._entries.move_to_end(key)
                return entry[2]
        plots = make()
        with self._lock:
            self._entries[key] = (final, now, plots)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return plots

