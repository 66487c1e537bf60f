"""The work-area browser under /testdirs/: listings, the tail of text files, downloads.

Every path is resolved (symlinks included) and must stay inside the work area;
anything else is a 404. Large files are never read whole: the view seeks to
their last TAIL_BYTES.
"""
from __future__ import annotations

import os

from flask import Blueprint, abort, current_app, render_template, request, send_file

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


@blueprint.get("/testdirs/", defaults={"relative": ""})
@blueprint.get("/testdirs/<path:relative>")
def browse(relative: str):
    path = _resolve(relative)
    if os.path.isdir(path):
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


def _inside(path: str) -> bool:
    root = os.path.realpath(os.path.join(current_app.config["HC"].work_dir, "tests"))
    return os.path.realpath(path).startswith(root + os.sep)


def _natural(name: str) -> tuple:
    """job-2 before job-10."""
    head, _, number = name.rpartition("-")
    return (head, int(number)) if number.isdigit() else (name, 0)
