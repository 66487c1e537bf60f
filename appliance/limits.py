"""Every numeric bound on what users hand in, in one place.

The web forms, the API (and its OpenAPI document), the CLI, template files and
`hc run` all check against these, so a value accepted at one door is accepted
at all of them, and every stored value can be shown by every page.
"""
from __future__ import annotations

import math

from appliance.errors import BadInput, FieldErrors

MAX_ID = 2**63 - 1              # ids: a 64-bit signed integer column
MAX_PAGE = 1000                 # rows per page of a listing
MAX_PAGE_NUMBER = 1_000_000     # page x per_page must stay an offset the database can take
MAX_KNOB = 1_000_000            # jobs: more is a typing error (and would not fit the columns)
MAX_SECONDS = 30 * 86400        # s: a test's length, durations, timeouts (a longer stress test
                                # is a typing error; functional tests are re-created)
MAX_HISTORY_DAYS = 365         # days a history page (robot, site, API) looks back
EARLIEST_TIME = 946_684_800.0   # 2000-01-01T00:00:00Z: no test starts before
LATEST_TIME = 4_102_444_800.0   # 2100-01-01T00:00:00Z: no test ends after


def check_time(seconds, what: str = "time") -> float:
    """`seconds` (UNIX time) as a float if it lies in the range every page can show."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise BadInput(f"{what} must be a time")
    if not math.isfinite(seconds) or not EARLIEST_TIME <= seconds <= LATEST_TIME:
        raise BadInput(f"{what} must lie between 2000-01-01 and 2100-01-01 (UTC)")
    return float(seconds)


def check_span(start: float, end: float) -> None:
    """A test's start and end: both in range, the end after the start, at most MAX_SECONDS."""
    if end <= start:
        raise FieldErrors({"end": "the end time must be after the start time"})
    for what, moment in (("start", start), ("end", end)):
        try:
            check_time(moment, what)
        except BadInput:
            raise FieldErrors({what: "must lie between 2000-01-01 and 2100-01-01 (UTC)"}) from None
    if end - start > MAX_SECONDS:
        raise FieldErrors({"end": f"a test may last at most {MAX_SECONDS // 86400} days"})

# What a payload or a site hands back is read up to these sizes (appliance/payload.py).
MAX_METRICS_BYTES = 64 * 1024   # a payload's metrics file
MAX_METRICS = 100               # numbers in one metrics file
MAX_METRIC_NAME = 100           # characters of one metric's name
MAX_STATUS_BYTES = 4096         # a job's status file (local and docker backends)
MAX_OUTPUT_BYTES = 64 * 1024**2  # stdout or stderr collected from a container
MAX_REASON = 2000               # characters of a failure reason kept on a job
MAX_DESCRIPTION = 10_000        # characters of a template's description (shown on list pages)
MAX_COMMAND = 32 * 1024         # bytes of a job command (the kernel takes 128 KiB per argument)
MAX_ENVIRONMENT = 32 * 1024     # bytes of a job template's environment, names and values
MAX_DOCUMENT_BYTES = 256 * 1024  # a template or run file
MAX_MESSAGE = 300               # characters of a value quoted back in an error message
