"""What the CLI reads as numbers and writes to a terminal.

Ids are checked against the database's 64-bit range (argparse then exits 2
with the message, instead of a traceback from the database driver). Every
line the CLI prints goes through Printable, which drops control characters:
a site name or image holding an escape sequence cannot rewrite the user's
terminal (the title, the screen, the clipboard).
"""
from __future__ import annotations

import argparse
import io
import re

from appliance.limits import MAX_ID, MAX_PAGE

# C0 controls but tab and newline, DEL, and C1 controls (ESC, CSI, OSC among them).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def record_id(text: str) -> int:
    """An id argument: a whole number 1..2^63-1."""
    if not re.fullmatch(r"[0-9]{1,19}", text.strip()) or not 1 <= int(text) <= MAX_ID:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an id (a whole number from 1 "
                                         f"to {MAX_ID})")
    return int(text)


def row_limit(text: str) -> int:
    """A --limit argument: 1..MAX_PAGE rows."""
    if not re.fullmatch(r"[0-9]{1,7}", text.strip()) or not 1 <= int(text) <= MAX_PAGE:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of rows (1 to "
                                         f"{MAX_PAGE})")
    return int(text)


def printable(text: str) -> str:
    return _CONTROLS.sub("", text)


class Printable(io.TextIOBase):
    """A text stream that writes to `target` without control characters."""

    def __init__(self, target):
        self.target = target

    def write(self, text: str) -> int:
        self.target.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()
