"""One worker thread per site: a site's backend calls run on its own thread, so one
slow or hanging site delays neither the other sites of its test nor other tests.

A site's tasks run in order on its thread (a kill never overtakes the poll before
it). A task is keyed (test, site, kind) and not queued again while it is pending.
The submit agent dispatches an iteration's tasks, then `wait`s for them: for a
site known to be slow not at all, for the others at most `patience` seconds (the
backend timeout); a task still running then makes its site slow until one of its
tasks ends quickly again. Tasks write to the database through their thread's own
connection (peewee keeps one per thread); jobbook serialises SQLite writes.
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

    def run(self, site_id: int, key: Hashable, function: Callable, *args
            ) -> concurrent.futures.Future | None:
        """Queue `function(*args)` on the site's thread; None while `key` is pending."""
        pending = self._pending.get(key)
        if pending is not None and not pending.done():
            return None
        executor = self._executors.get(site_id)
        if executor is None:
            executor = self._executors[site_id] = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=f"site-{site_id}")
        future = executor.submit(self._timed, site_id, function, *args)
        self._pending[key] = future
        self._dispatched.append((site_id, future))
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
