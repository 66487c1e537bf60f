"""Migrations: applied once, safely in parallel, and matching the models."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from playhouse.reflection import Introspector

from appliance.db import MIGRATIONS_DIR, database, open_database, pending_migrations, upgrade
from appliance.models import ALL_MODELS, Site
from tests.factories import make_site


def _columns(db) -> dict[str, set[str]]:
    models = Introspector.from_database(db).generate_models()
    return {name: set(model._meta.columns) for name, model in models.items()
            if name != "schema_migration"}


def _model_columns() -> dict[str, set[str]]:
    return {m._meta.table_name: set(m._meta.columns) for m in ALL_MODELS}


def test_migrations_create_exactly_the_models_schema(db):
    assert _columns(db) == _model_columns()
    assert pending_migrations() == []
    assert upgrade() == []  # idempotent


def test_a_transaction_that_reads_then_writes_waits_for_no_one_to_fail(db):
    """Every SQLite transaction begins IMMEDIATE: one that reads, then writes (get or
    create, a template saved by `hc template add` while the agents run) failed at its
    write with "database is locked" when another connection committed in between."""
    site = make_site("lock-a")
    other_done = threading.Event()

    def other_writer():
        Site.update(cloud="other").where(Site.id == site.id).execute()  # its own connection
        other_done.set()
    with database.atomic():
        assert Site.get_by_id(site.id).cloud == ""  # the read
        writer = threading.Thread(target=other_writer)
        writer.start()
        assert not other_done.wait(0.5), "the other writer waits for this transaction"
        Site.update(tags=["mine"]).where(Site.id == site.id).execute()  # the write
    writer.join(timeout=30)
    assert other_done.is_set()
    assert (Site.get_by_id(site.id).cloud, Site.get_by_id(site.id).tags) == ("other", ["mine"])


def test_sqlite_pragmas(db):
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert db.execute_sql("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental


MIGRATE = "from appliance.db import open_database, upgrade; import sys; " \
          "open_database(sys.argv[1]); print(len(upgrade()))"


def _all_migrations() -> int:
    return len([n for n in os.listdir(MIGRATIONS_DIR) if n[:1].isdigit() and n.endswith(".py")])


def _migrate_in_parallel(url: str, processes: int = 4) -> list[int]:
    children = [subprocess.Popen([sys.executable, "-c", MIGRATE, url], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    results = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        results.append(int(out.strip()))
    return results


def test_many_processes_starting_on_a_new_sqlite_file_all_start(tmp_path):
    """Each switches the new file to WAL as it connects while one migrates; a process
    that met that once failed at once with "database is locked" (an agent that did
    not start)."""
    for attempt in range(3):
        url = f"sqlite:///{tmp_path}/fresh-{attempt}.sqlite"
        assert sorted(_migrate_in_parallel(url, processes=10)) == [0] * 9 + [_all_migrations()]


def test_parallel_start_migrates_once_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path}/hc.sqlite"
    assert sorted(_migrate_in_parallel(url)) == [0, 0, 0, _all_migrations()]


@pytest.mark.postgres
def test_parallel_start_migrates_once_postgres(postgres_database):
    assert sorted(_migrate_in_parallel(postgres_database)) == [0, 0, 0, _all_migrations()]
    db = open_database(postgres_database)
    try:
        assert _columns(db) == _model_columns()
    finally:
        db.close()
        database.initialize(None)


def test_user_add_waits_for_a_concurrent_writer(db, settings):
    """Finding 7: `hc user add` while an agent writes gave "database is locked"
    (a deferred transaction's read went stale); it now waits its turn."""
    import sqlite3
    import threading
    import time

    from appliance import accounts
    path = settings.database_url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO login_attempt (name, address, at, succeeded) "
                  "VALUES ('agent', 'x', 0, 0)")
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    time.sleep(0.05)
    assert accounts.add_user("ann", "long enough password").name == "ann"
    other.close()


def test_a_postgres_listener_that_never_answers_does_not_hang_the_cli(tmp_path):
    """A TCP listener that accepts and then says nothing (a hung server, a firewall that
    swallows packets): `hc db status` gives up after about HC_DB_WAIT, with a clear error."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel completes the handshake; nobody ever reads or writes
    port = listener.getsockname()[1]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    environ.update(HC_DATA_DIR=str(tmp_path), HC_DB_WAIT="3",
                   HC_DATABASE_URL=f"postgresql://hc:secret-pw@127.0.0.1:{port}/hc")
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "appliance", "db", "status"], env=environ,
                              capture_output=True, text=True, timeout=60)
    finally:
        listener.close()
    took = time.monotonic() - started
    assert done.returncode != 0
    assert "cannot reach the database" in done.stderr and "secret-pw" not in done.stderr
    assert took < 15, f"hc db status took {took:.1f} s with HC_DB_WAIT=3"
