"""The disk budget: the work volume's and the database's size and free space,
with warnings before either runs out. Shown on the index, in /metrics, by
`hc config` and `hc status`; measured by appliance/disk.py."""
from __future__ import annotations

import os

from appliance import disk
from appliance.config import Config


def budget(config: Config, with_database: bool = True) -> dict:
    """{work: {...}, database: {...}, warnings: [...]}; sizes in bytes.

    with_database=False: only what needs no connection (the SQLite file, if any).
    """
    work = disk.space(config.work_dir)
    result = {"work": {"path": config.work_dir, "total": work.total, "free": work.free,
                       "free_percent": 100 * work.free_fraction}, "warnings": []}
    size, path = None, None
    if with_database:
        size, path = disk.database_size()
    elif config.database_url.startswith("sqlite:///"):
        path = config.database_url.removeprefix("sqlite:///")
        size = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    database = {"size": size, "path": path}
    if path:
        volume = disk.space(path)
        database |= {"total": volume.total, "free": volume.free,
                     "free_percent": 100 * volume.free_fraction}
    result["database"] = database
    for name, figures in (("work volume", result["work"]), ("database volume", database)):
        if "free_percent" in figures and figures["free_percent"] < config.disk_warn_free:
            result["warnings"].append(
                f"{name} {figures.get('path') or ''} has {disk.human(figures['free'])} free "
                f"({figures['free_percent']:.1f}%, below HC_DISK_WARN_FREE="
                f"{config.disk_warn_free:g}%): shorten HC_RETAIN_* or grow the volume")
    return result


def lines(figures: dict) -> list[str]:
    """Human lines for the CLI."""
    work = figures["work"]
    out = [f"work volume: {disk.human(work['free'])} free of {disk.human(work['total'])} "
           f"({work['free_percent']:.1f}%) at {work['path']}"]
    database = figures["database"]
    if database.get("size") is not None:
        text = f"database: {disk.human(database['size'])}"
        if "free" in database:
            text += (f", its volume {disk.human(database['free'])} free of "
                     f"{disk.human(database['total'])} ({database['free_percent']:.1f}%)")
        out.append(text)
    out += [f"WARNING: {w}" for w in figures["warnings"]]
    return out
