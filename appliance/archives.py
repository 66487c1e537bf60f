"""Work-area archives: one .tar.gz per finished test, `<work dir>/archives/<id>.tar.gz`,
holding the test's folder as `<id>/...` (open it with any tar).

Packing writes to a temporary name and renames it, then removes the folder: a
crash leaves either the folder or the archive (or both, packed again next time),
never neither. Reading lists members and seeks to a member's tail.
"""
from __future__ import annotations

import os
import shutil
import tarfile

from appliance import workarea

SUFFIX = ".tar.gz"


def path(work_dir: str, test_id: int) -> str:
    return os.path.join(work_dir, "archives", f"{int(test_id)}{SUFFIX}")


def pack(work_dir: str, test_id: int) -> bool:
    """Pack the test's work area and remove the folder; False when there is none."""
    folder = workarea.test_dir(work_dir, test_id)
    if not os.path.isdir(folder):
        return False
    target = path(work_dir, test_id)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    temporary = target + ".tmp"
    with tarfile.open(temporary, "w:gz", compresslevel=6) as tar:
        tar.add(folder, arcname=str(int(test_id)))
    os.replace(temporary, target)
    shutil.rmtree(folder)
    return True


def remove(work_dir: str, test_id: int) -> bool:
    try:
        os.remove(path(work_dir, test_id))
        return True
    except FileNotFoundError:
        return False


def members(work_dir: str, test_id: int) -> dict[str, tarfile.TarInfo] | None:
    """{path inside the test's folder: member} of its archive, or None without one."""
    archive = path(work_dir, test_id)
    if not os.path.exists(archive):
        return None
    prefix = f"{int(test_id)}/"
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name[len(prefix):]: m for m in tar.getmembers()
                if m.name.startswith(prefix) and (m.isfile() or m.isdir())}


def listing(work_dir: str, test_id: int, relative: str) -> list[tuple] | None:
    """[(name, is folder, size)] directly under `relative` (inside the test's folder)
    in its archive; None when the archive has no such folder."""
    found = members(work_dir, test_id)
    if found is None:
        return None
    base = relative.strip("/")
    if base and (base not in found or not found[base].isdir()):
        return None
    prefix = base + "/" if base else ""
    entries = {}
    for name, member in found.items():
        if name and name.startswith(prefix) and "/" not in name[len(prefix):]:
            entries[name[len(prefix):]] = (member.isdir(), member.size if member.isfile() else None)
    return [(name, folder, size) for name, (folder, size) in entries.items()]


def tail(work_dir: str, test_id: int, relative: str, limit: int) -> tuple[int, bytes] | None:
    """(size, its last `limit` bytes) of one file of the archive; None when absent."""
    found = members(work_dir, test_id)
    member = None if found is None else found.get(relative.strip("/"))
    if member is None or not member.isfile():
        return None
    with tarfile.open(path(work_dir, test_id), "r:gz") as tar:
        handle = tar.extractfile(member)
        if member.size > limit:
            handle.seek(member.size - limit)  # gzip streams forward: reads and drops the head
        return member.size, handle.read(limit)
