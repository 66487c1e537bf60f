"""Test leases: a submit agent acts on a test only while it still holds it.

The server raises `Test.lease` each time it gives a test to a host (assignment,
takeover). A submit agent reads the number with the test, and every write it
makes for the test begins with `hold(lease)`: a guarded UPDATE of the test's
row matching only while host and number are the ones read, whose row count is
checked. None means the test was taken over (this node was cut off from the
database for longer than HC_AGENT_DEAD_AFTER): the transaction is abandoned
and nothing of it is written. On PostgreSQL the UPDATE also locks the row until
commit, so a takeover waits for a write in progress and never slips between
the check and the write; the server waits only briefly (`take_over`).
"""
from __future__ import annotations

from dataclasses import dataclass

import peewee

from appliance.db import database, is_postgres
from appliance.models import Test

# s the server waits for a submit agent's write in progress on a test it takes over;
# longer, it tries again at its next pass (a cut-off node's transaction is ended by
# PostgreSQL itself: appliance/db.py IDLE_IN_TRANSACTION).
TAKEOVER_LOCK_WAIT = 2.0


@dataclass(frozen=True)
class Lease:
    test_id: int
    host: str
    number: int

    @classmethod
    def of(cls, test: Test) -> Lease:
        return cls(test.id, test.submit_host, test.lease)


class LeaseLost(Exception):
    """The test was given to another host: this one must stop acting on it."""

    def __init__(self, lease: Lease):
        super().__init__(f"test {lease.test_id} is no longer held by {lease.host} "
                         f"(lease {lease.number} ended)")
        self.lease = lease


_SQL: dict[str, str] = {}


def hold(lease: Lease | None) -> None:
    """Inside a write transaction: go on only while `lease` stands, else LeaseLost.

    None: a write that needs no lease (a node back after a takeover recording
    the outcomes of its own jobs, each guarded by its state)."""
    if lease is None:
        return
    mark = database.param
    sql = _SQL.get(mark)
    if sql is None:  # built once: this runs in every job write transaction
        sql = _SQL[mark] = (f'UPDATE "test" SET "lease" = "lease" WHERE "id" = {mark} '
                            f'AND "submit_host" = {mark} AND "lease" = {mark}')
    if database.execute_sql(sql, [lease.test_id, lease.host, lease.number]).rowcount != 1:
        raise LeaseLost(lease)


def still_held(lease: Lease) -> bool:
    return Test.select().where(Test.id == lease.test_id, Test.submit_host == lease.host,
                               Test.lease == lease.number).exists()


def take_over(test_id: int, from_host: str, to_host: str) -> bool:
    """Give a test of `from_host` to `to_host`, ending every lease on it. False when
    it is no longer `from_host`'s, or (PostgreSQL) a write of it is in progress
    for longer than TAKEOVER_LOCK_WAIT: the caller tries again later."""
    with database.atomic():
        if is_postgres():
            database.execute_sql(f"SET LOCAL lock_timeout = '{int(TAKEOVER_LOCK_WAIT * 1000)}ms'")
        try:
            with database.atomic():  # a savepoint: the lock wait may fail alone
                return bool(Test.update(submit_host=to_host, lease=Test.lease + 1)
                            .where(Test.id == test_id, Test.submit_host == from_host).execute())
        except peewee.OperationalError as error:
            if "lock timeout" not in str(error):
                raise
            return False
