"""The work-area browser under /testdirs/: listings, the tail of text files, downloads.

Every path is resolved (symlinks included) and must stay inside the work area;
anything else is a 404. Only regular files are ever opened, and without
blocking (a FIFO a payload left must not hang a worker); other kinds (FIFOs,
sockets, devices, broken or looping links) are listed and marked. Names that
are not UTF-8 are shown escaped and not linked. Big folders are paged
(PAGE_ENTRIES a page, sorted by name kind and not stat'ed beyond the page).
Large files are never read whole: the view seeks to their last TAIL_BYTES.
Downloads are always application/octet-stream: nothing a payload wrote is
rendered by a browser as a page.

A test whose work area retention packed (appliance/archives.py) is browsed from
its archive: the same listings and tails, read from the .tar.gz, plus the
archive itself as a download.
"""
from __future__ import annotations

import os
import stat
from urllib.parse import quote

from flask import Blueprint, abort, current_app, render_template, request, send_file

from appliance import archives
from appliance.limits import MAX_PAGE_NUMBER

blueprint = Blueprint("testdirs", __name__)
TAIL_BYTES = 64 * 1024
PAGE_ENTRIES = 500


def _root() -> str:
    return os.path.realpath(os.path.join(current_app.config["HC"].work_dir, "tests"))


def _resolve(relative: str) -> str:
    root = _root()
    if "\x00" in relative:
        abort(404)
    try:
        path = os.path.realpath(os.path.join(root, relative), strict=True)
    except (OSError, RuntimeError):   # missing, a link loop, a name too long
        abort(404)
    if path != root and not path.startswith(root + os.sep):
        abort(404)
    return path


def _work_dir() -> str:
    return current_app.config["HC"].work_dir


def _archived_tests() -> list[int]:
    folder = os.path.join(_work_dir(), "archives")
    if not os.path.isdir(folder):
        return []
    return [int(name.removesuffix(archives.SUFFIX)) for name in os.listdir(folder)
            if name.endswith(archives.SUFFIX) and name.removesuffix(archives.SUFFIX).isdigit()]


@blueprint.get("/testdirs/", defaults={"relative": ""})
@blueprint.get("/testdirs/<path:relative>")
def browse(relative: str):
    head, _, rest = relative.strip("/").partition("/")
    if head.isdigit() and len(head) < 20 and not os.path.isdir(
            os.path.join(_work_dir(), "tests", head)) and os.path.exists(
            archives.path(_work_dir(), int(head))):
        return _from_archive(int(head), rest, relative)
    if relative.strip("/") == "" and not os.path.isdir(os.path.join(_work_dir(), "tests")) \
            and _archived_tests():
        return _root_listing(None)
    path = _resolve(relative)
    if os.path.isdir(path):
        if relative.strip("/") == "":
            return _root_listing(path)
        return _listing(path, relative.strip("/"))
    try:
        handle = _open_regular(path)
    except OSError:
        abort(404)
    if handle is None:
        return render_template("message.html", title="Not a regular file",
                               message="this entry is not a regular file (a FIFO, socket or "
                                       "device): it is listed, never opened"), 404
    if request.args.get("download"):
        return send_file(handle, as_attachment=True, mimetype="application/octet-stream",
                         download_name=os.path.basename(path))
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size > TAIL_BYTES:
            handle.seek(size - TAIL_BYTES)
        data = handle.read(TAIL_BYTES)
    return render_template("file.html", relative=_shown(relative), size=size,
                           truncated=size > TAIL_BYTES, text=data.decode("utf-8", "replace"))


def _root_listing(path: str | None):
    """Every test folder, and the tests whose folder is packed in an archive."""
    listing = {}
    if path is not None:
        for entry in os.scandir(path):
            if entry.is_dir() and _inside(entry.path):
                listing[entry.name] = (entry.name, True, None)
    for test_id in _archived_tests():
        listing.setdefault(str(test_id), (str(test_id), True, None))
    rows = sorted(listing.values(), key=lambda row: _natural(row[0]))
    return render_template("browse.html", relative="", listing=[_row(*r) for r in rows],
                           page=1, pages=1, total=len(rows))


def _from_archive(test_id: int, inner: str, relative: str):
    work_dir = _work_dir()
    if request.args.get("download") == "archive":
        return send_file(archives.path(work_dir, test_id), as_attachment=True,
                         download_name=f"test-{test_id}{archives.SUFFIX}")
    listing = archives.listing(work_dir, test_id, inner)
    if listing is not None:
        listing.sort(key=lambda row: (not row[1], _natural(row[0])))
        return render_template("browse.html", relative=relative.strip("/"),
                               listing=[_row(*r) for r in listing], archive=test_id,
                               page=1, pages=1, total=len(listing))
    found = archives.tail(work_dir, test_id, inner, TAIL_BYTES)
    if found is None:
        abort(404)
    size, data = found
    return render_template("file.html", relative=relative, size=size, archive=test_id,
                           truncated=size > TAIL_BYTES, text=data.decode("utf-8", "replace"))


def _row(name: str, is_dir: bool, size: int | None) -> dict:
    """A listing row from an archive's or the root's (name, is it a folder, size)."""
    shown = _shown(name)
    href = quote(name) + ("/" if is_dir else "") if shown == name else None
    return {"name": shown, "href": href, "kind": "folder" if is_dir else "file", "size": size}


def _open_regular(path: str):
    """A binary file object for `path` if it is a regular file, else None (never blocks)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        return None
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


def _listing(path: str, relative: str):
    try:
        entries = list(os.scandir(path))
    except OSError:
        abort(404)
    entries.sort(key=lambda e: (not _is_dir(e), _natural(e.name)))
    pages = max(1, -(-len(entries) // PAGE_ENTRIES))
    page = min(pages, MAX_PAGE_NUMBER, max(1, request.args.get("page", 1, type=int)))
    shown = (_describe(e) for e in entries[(page - 1) * PAGE_ENTRIES:page * PAGE_ENTRIES])
    listing = [row for row in shown if row is not None]
    return render_template("browse.html", relative=_shown(relative), listing=listing,
                           page=page, pages=pages, total=len(entries))


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()   # follows links: a link to a folder sorts with folders
    except OSError:
        return False


def _describe(entry: os.DirEntry) -> dict | None:
    """What a row of the listing shows: a safe name, a link or none, the kind, the
    size; None for a link out of the work area (not even its name is shown)."""
    kind, size = _kind(entry)
    if kind in ("folder", "file") and not _inside(entry.path):
        return None
    name = _shown(entry.name)
    href = None
    if kind in ("folder", "file") and name == entry.name:   # odd names are not linked
        href = quote(entry.name) + ("/" if kind == "folder" else "")
    return {"name": name, "href": href, "kind": kind, "size": size}


def _kind(entry: os.DirEntry) -> tuple[str, int | None]:
    try:
        mode = os.stat(entry.path).st_mode if entry.is_symlink() else entry.stat().st_mode
        size = entry.stat().st_size if stat.S_ISREG(mode) else None
    except (OSError, RuntimeError):
        return ("broken or looping link" if entry.is_symlink() else "unreadable"), None
    for test, kind in ((stat.S_ISDIR, "folder"), (stat.S_ISREG, "file"), (stat.S_ISFIFO, "FIFO"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"),
                       (stat.S_ISBLK, "device")):
        if test(mode):
            return kind, size
    return "other", None


def _shown(name: str) -> str:
    """A name as text that can always be sent: bytes that are not UTF-8 as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _inside(path: str) -> bool:
    root = _root()
    try:
        return os.path.realpath(path, strict=True).startswith(root + os.sep)
    except (OSError, RuntimeError):
        return False


def _natural(name: str) -> tuple:
    """job-2 before job-10."""
    head, _, number = name.rpartition("-")
    return (head, int(number)) if number.isdigit() and len(number) < 20 else (name, 0)
