"""One home for writing a UNIX time as UTC text, for pages, the CLI and reports.

It never raises: a row may hold a time from before the bounds of limits.py (an old
database, a direct write), and a page or `hc test list` must still show it, not fail
for everyone.
"""
from __future__ import annotations

import datetime as dt
import math

PAGE = "%Y-%m-%d %H:%M:%S"
CLI = "%Y-%m-%d %H:%M:%SZ"


def utc_text(timestamp: float | None, pattern: str = PAGE) -> str:
    """`timestamp` in UTC by `pattern`; "-" for None; the number itself, marked, when
    no calendar date can show it (NaN, infinite, beyond year 9999)."""
    if timestamp is None:
        return "-"
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime(pattern)
    except (OverflowError, OSError, ValueError, TypeError):
        shown = f"{timestamp:.0f}" if isinstance(timestamp, int | float) and \
            math.isfinite(timestamp) else str(timestamp)
        return f"{shown[:40]} s (out of range)"
