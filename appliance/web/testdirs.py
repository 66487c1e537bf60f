"""The work-area browser under /testdirs/: listings, the tail of text files, downloads.

Every path is resolved (symlinks included) and must stay inside the work area;
anything else is a 404. Large files are never read whole: the view seeks to
their last TAIL_BYTES.

A test whose work area retention packed (appliance/archives.py) is browsed from
its archive: the same listings and tails, read from the .tar.gz, plus the
archive itself as a download.
"""
from __future__ import annotations

import os

from flask import Blueprint, abort, current_app, render_template, request, send_file

from appliance import archives

blueprint = Blueprint("testdirs", __name__)
TAIL_BYTES = 64 * 1024


def _resolve(relative: str) -> str:
    root = os.path.realpath(os.path.join(current_app.config["HC"].work_dir, "tests"))
    if "\x00" in relative:
        abort(404)
    path = os.path.realpath(os.path.join(root, relative))
    if path != root and not path.startswith(root + os.sep):
        abort(404)
    if not os.path.exists(path):
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
        entries = sorted(os.scandir(path), key=lambda e: (not e.is_dir(), _natural(e.name)))
        listing = [(e.name, e.is_dir(), e.stat().st_size if e.is_file() else None)
                   for e in entries if _inside(e.path)]
        return render_template("browse.html", relative=relative.strip("/"), listing=listing)
    if request.args.get("download"):
        return send_file(path, as_attachment=True, download_name=os.path.basename(path))
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if size > TAIL_BYTES:
            handle.seek(size - TAIL_BYTES)
        data = handle.read(TAIL_BYTES)
    return render_template("file.html", relative=relative, size=size,
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
    return render_template("browse.html", relative="", listing=rows)


def _from_archive(test_id: int, inner: str, relative: str):
    work_dir = _work_dir()
    if request.args.get("download") == "archive":
        return send_file(archives.path(work_dir, test_id), as_attachment=True,
                         download_name=f"test-{test_id}{archives.SUFFIX}")
    listing = archives.listing(work_dir, test_id, inner)
    if listing is not None:
        listing.sort(key=lambda row: (not row[1], _natural(row[0])))
        return render_template("browse.html", relative=relative.strip("/"), listing=listing,
                               archive=test_id)
    found = archives.tail(work_dir, test_id, inner, TAIL_BYTES)
    if found is None:
        abort(404)
    size, data = found
    return render_template("file.html", relative=relative, size=size, archive=test_id,
                           truncated=size > TAIL_BYTES, text=data.decode("utf-8", "replace"))


def _inside(path: str) -> bool:
    root = os.path.realpath(os.path.join(current_app.config["HC"].work_dir, "tests"))
    return os.path.realpath(path).startswith(root + os.sep)


def _natural(name: str) -> tuple:
    """job-2 before job-10."""
    head, _, number = name.rpartition("-")
    return (head, int(number)) if number.isdigit() else (name, 0)
