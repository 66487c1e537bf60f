"""Migrations: applied once, safely in parallel, and matching the models."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from playhouse.reflection import Introspector

from appliance.db import MIGRATIONS_DIR, database, open_database, pending_migrations, upgrade
from appliance.models import ALL_MODELS


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
