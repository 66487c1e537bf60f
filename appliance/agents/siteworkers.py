"""A thread for each slow site: one slow or hanging site delays neither the other
sites of its test nor other tests.

A site's tasks run on the agent's own thread while the site answers quickly (as
cheap as a plain loop: no hand-over, one site's jobs in memory at a time). A task
that takes longer than SLOW_AFTER makes its site slow: its tasks then run in order
on the site's own thread (a kill never overtakes the poll before it) until one
ends quickly again. A task is keyed (test, site, kind) and not queued again while
it is pending. The agent dispatches an iteration's tasks, then `wait`s: for a
site known to be slow not at all, for a site's first task on its thread at most
`patience` seconds (the backend timeout). Threaded tasks write to the database
through their thread's own connection; jobbook serialises SQLite writes.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable, Hashable

from appliance.db import database

log = logging.getLogger(__name__)
SLOW_AFTER = 1.0  # s: a task that takes longer makes its site slow (not waited on)


class SiteWorkers:
    def __init__(self, patience: float):
        self.patience = patience
        self._executors: dict[int, concurrent.futures.ThreadPoolExecutor] = {}
        self._pending: dict[Hashable, concurrent.futures.Future] = {}
        self._dispatched: list[tuple[int, concurrent.futures.Future]] = []
        self._slow: set[int] = set()
        self._site_futures: dict[int, list[concurrent.futures.Future]] = {}

    def run(self, site_id: int, key: Hashable, function: Callable, *args
            ) -> concurrent.futures.Future | None:
        """Queue `function(*args)` on the site's thread; None while `key` is pending."""
        pending = self._pending.get(key)
        if pending is not None and not pending.done():
            return None
        if site_id not in self._slow and not self._busy(site_id):
            return self._inline(site_id, function, *args)
        executor = self._executors.get(site_id)
        if executor is None:
            executor = self._executors[site_id] = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=f"site-{site_id}")
        future = executor.submit(self._timed, site_id, function, *args)
        self._site_futures.setdefault(site_id, []).append(future)
        self._pending[key] = future
        self._dispatched.append((site_id, future))
        return future

    def _busy(self, site_id: int) -> bool:
        return any(not f.done() for s, f in self._dispatched if s == site_id) or any(
            not f.done() for f in self._site_futures.get(site_id, ()))

    def _inline(self, site_id: int, function: Callable, *args) -> concurrent.futures.Future:
        """Run here and now; a broken database connection escapes to the runner."""
        started = time.monotonic()
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(function(*args))
        finally:
            if time.monotonic() - started >= SLOW_AFTER:
                self._slow.add(site_id)
        return future

    def _timed(self, site_id: int, function: Callable, *args):
        started = time.monotonic()
        try:
            return function(*args)
        except Exception:
            # Only a broken database connection escapes the agent's guard: this
            # thread's connection is dropped, the next task opens a fresh one.
            log.warning("site %s: task stopped by a database error; reconnecting", site_id,
                        exc_info=True)
            with contextlib.suppress(Exception):
                database.close()
            raise
        finally:
            if time.monotonic() - started < SLOW_AFTER:
                self._slow.discard(site_id)
            else:
                self._slow.add(site_id)

    def wait(self) -> None:
        """Wait for the tasks dispatched since the last wait, but not on slow sites."""
        dispatched, self._dispatched = self._dispatched, []
        watched = [future for site_id, future in dispatched if site_id not in self._slow]
        concurrent.futures.wait(watched, timeout=self.patience)
        for site_id, future in dispatched:
            if not future.done():
                self._slow.add(site_id)
        self._pending = {key: f for key, f in self._pending.items() if not f.done()}
        self._site_futures = {site: left for site, futures in self._site_futures.items()
                              if (left := [f for f in futures if not f.done()])}

    def is_slow(self, site_id: int) -> bool:
        return site_id in self._slow

    def close(self, timeout: float) -> None:
        """Stop taking tasks; give running ones up to `timeout` s in total."""
        deadline = time.monotonic() + timeout
        for executor in self._executors.values():
            executor.shutdown(wait=False, cancel_futures=True)
        for future in list(self._pending.values()):
            with contextlib.suppress(Exception):
                future.result(timeout=max(0.0, deadline - time.monotonic()))


def outcome(future: concurrent.futures.Future | None):
    """A finished task's value; None when it is not finished or failed."""
    if future is None or not future.done() or future.exception() is not None:
        return None
    return future.result()
