"""Disk space: how big a volume is and how much of it is free, and how big the
database is. One home for the measuring, so the disk budget shown on the pages
and any free-space guard read the same numbers.

`space(path)` asks the file system (statvfs: instant, whatever the number of
files); it never walks a folder. `database_size()` asks the database.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Space:
    """A volume's size and free bytes (free: what an unprivileged process may use)."""
    path: str
    total: int
    free: int

    @property
    def used(self) -> int:
        return self.total - self.free

    @property
    def free_fraction(self) -> float:
        return self.free / self.total if self.total else 0.0


def space(path: str) -> Space:
    """The volume holding `path` (its nearest existing parent when it does not exist yet)."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    usage = shutil.disk_usage(probe)
    return Space(path, usage.total, usage.free)


def database_size() -> tuple[int, str | None]:
    """(bytes the database takes, its file on this host or None for a server database).

    SQLite: the file plus its write-ahead log; PostgreSQL: pg_database_size.
    """
    from appliance.db import database, is_postgres
    if is_postgres():
        return int(database.execute_sql("SELECT pg_database_size(current_database())")
                   .fetchone()[0]), None
    path = database.obj.database
    if path == ":memory:":
        return 0, None
    size = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    return size, path


def human(size: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
