"""The database: chosen at run time from a URL, migrated under a lock.

Models bind to `database`, a DatabaseProxy. `open_database(url)` makes the real
SQLite or PostgreSQL connection and points the proxy at it.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import time
from urllib.parse import unquote, urlparse

import peewee
from playhouse.migrations import Runner

from appliance.errors import BadInput

log = logging.getLogger(__name__)

database = peewee.DatabaseProxy()
MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")
# Any constant: PostgreSQL advisory lock taken while migrating.
_MIGRATION_LOCK_KEY = 0x4843_4D49  # "HCMI"

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 30_000,  # ms: agents and web write concurrently
    "foreign_keys": 1,
    "synchronous": "normal",  # WAL + normal: durable at checkpoints, no fsync per commit
}


# A connection to PostgreSQL that stops answering (a network cut: no reset arrives) is
# noticed within about 20 s, not after the kernel's retransmissions (15 minutes), and
# PostgreSQL ends a transaction whose client went silent, releasing its row locks (a
# cut-off submit node must not keep a test it is losing locked: appliance/agents/lease.py).
IDLE_IN_TRANSACTION = 20_000  # ms
POSTGRES_LIVENESS = {
    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 2,
    "tcp_user_timeout": 20_000,  # ms of unacknowledged data before the connection is dead
    "options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION}",
}


def make_database(url: str, connect_timeout: float = 10.0) -> peewee.Database:
    """A peewee database for a sqlite:/// or postgresql:// URL (not yet connected).
    A PostgreSQL connection attempt gives up after `connect_timeout` seconds (a
    listener that never answers must not hang the caller)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if path != ":memory:":
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            _owner_only(path)
        # Every transaction begins IMMEDIATE (takes the write lock, waiting up to the
        # busy timeout): a deferred one that reads, then writes fails at its write with
        # "database is locked" when another process committed in between, and SQLite
        # does not wait for that one. Reads outside a transaction are not affected.
        return peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=30,
                                     lock_type="IMMEDIATE")
    if parsed.scheme in ("postgresql", "postgres"):
        return peewee.PostgresqlDatabase(
            unquote(parsed.path.lstrip("/")), user=unquote(parsed.username or "") or None,
            password=unquote(parsed.password or "") or None, host=parsed.hostname,
            port=parsed.port or 5432, connect_timeout=max(1, math.ceil(connect_timeout)),
            **POSTGRES_LIVENESS)
    raise BadInput(f"unsupported database URL scheme {parsed.scheme!r}")


def _owner_only(path: str) -> None:
    """The SQLite file (and so its -wal and -shm, which SQLite makes alike) is
    readable by its owner only: payloads running as other users cannot read it."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    except OSError:
        return   # SQLite will say what is wrong with the path
    try:
        with contextlib.suppress(PermissionError):
            os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)


def open_database(url: str, wait: float = 0.0) -> peewee.Database:
    """Point the proxy at `url` and connect, retrying for up to `wait` seconds
    (each attempt itself bounded by the time left)."""
    db = make_database(url, connect_timeout=min(10.0, wait) if wait > 0 else 10.0)
    database.initialize(db)
    started = time.monotonic()
    while True:
        try:
            db.connect(reuse_if_open=True)
            return db
        except peewee.OperationalError as error:
            # SQLite: processes opening a new file at once (agents starting together)
            # each switch it to WAL, and that refusal skips the busy timeout; it is a
            # moment's lock, waited for like any other, not an unreachable database.
            locked = isinstance(db, peewee.SqliteDatabase) and "locked" in str(error)
            patience = max(wait, SQLITE_PRAGMAS["busy_timeout"] / 1000) if locked else wait
            if time.monotonic() - started >= patience:
                raise DatabaseUnavailable(
                    f"cannot reach the database at {redact(url)} after "
                    f"{time.monotonic() - started:.0f} s: {str(error).strip()}; check "
                    "HC_DATABASE_URL and that the server runs") from error
            time.sleep(0.05 if locked else 0.5)


class DatabaseUnavailable(RuntimeError):
    pass


def redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(":" + parsed.password + "@", ":***@")
    return url


def is_postgres(db: peewee.Database | None = None) -> bool:
    db = db or database.obj
    return isinstance(db, peewee.PostgresqlDatabase)


@contextlib.contextmanager
def _migration_lock(db: peewee.Database):
    """Only one process migrates; the others wait, then find nothing left to do."""
    if is_postgres(db):
        db.execute_sql("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))
        try:
            yield
        finally:
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_KEY,))
        return
    lock_path = (db.database if db.database != ":memory:" else "/tmp/hc-memory") + ".migrate.lock"
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(db: peewee.Database | None = None) -> list[str]:
    """Apply pending migrations; return the names applied (empty when up to date)."""
    db = db or database.obj
    with _migration_lock(db):
        if not is_postgres(db) and not db.get_tables():
            # A new SQLite database: incremental auto-vacuum lets retention give freed pages
            # back a few at a time (appliance/retention.py). It can only be chosen before the
            # first table; an older database reuses its free pages instead. Not a connection
            # pragma: setting it writes, on every connection. In WAL mode it needs a
            # VACUUM to take effect, instant on an empty database.
            db.execute_sql("PRAGMA auto_vacuum = INCREMENTAL")
            db.execute_sql("VACUUM")
        applied = Runner(db, MIGRATIONS_DIR).up()
    for name in applied:
        log.info("applied migration %s", name)
    return applied


def pending_migrations(db: peewee.Database | None = None) -> list[str]:
    db = db or database.obj
    return [m.name for m in Runner(db, MIGRATIONS_DIR).status() if not m.applied]


def with_reconnect(function, attempts: int = 30, pause: float = 1.0):
    """Call `function()`; when the database connection breaks, reconnect and retry.

    Agents wrap each iteration in this so that a database restart costs a few
    seconds, not the agent.
    """
    for attempt in range(attempts):
        try:
            return function()
        except (peewee.OperationalError, peewee.InterfaceError) as error:
            if attempt == attempts - 1 or not connection_broken(error):
                raise
            log.warning("database error (%s); reconnecting", str(error).strip()[:200])
            _reset_connection()
            time.sleep(pause)


def connection_broken(error: Exception) -> bool:
    """Is `error` the connection failing (reconnect and retry), rather than a query
    the database refused (a bug or bad data: retrying it would fail forever)?

    SQLite reports both as OperationalError ("malformed JSON" as much as "disk I/O
    error"), so the connection itself is asked: if it still answers, the query was
    at fault. A busy SQLite ("database is locked") is worth retrying.
    """
    if isinstance(error, peewee.InterfaceError):
        return True
    if not isinstance(error, peewee.OperationalError):
        return False
    text = str(error).lower()
    if "locked" in text or "busy" in text:
        return True
    db = database.obj
    try:
        if db.in_transaction():
            return True  # cannot probe inside the caller's transaction; let it unwind
        db.execute_sql("SELECT 1")
    except Exception:
        return True
    return False


def _reset_connection() -> None:
    db = database.obj
    with contextlib.suppress(Exception):
        db.close()
    with contextlib.suppress(Exception):
        db.connect(reuse_if_open=True)
