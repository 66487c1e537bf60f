"""What payloads and sites hand back, read defensively.

A payload may write anything into its folder: random bytes, NaN, a number with
ten thousand digits, JSON nested a million deep, a file of gigabytes. Everything
read from there goes through this module: reads are bounded in size, numbers
must be finite (SQLite's JSON functions fail on NaN and Infinity, and every page
and summary over the test with them), and a problem is a PayloadError whose
message is written on that one job, never an exception that stops an agent.
"""
from __future__ import annotations

import json
import math
import os

from appliance import limits

METRICS_PROBLEM = "metrics file is not a JSON object of finite numbers"
PHASE_PREFIX = "phase:"  # seconds a job spent in a phase (appliance/phases.py)


class PayloadError(ValueError):
    """What a payload handed back cannot be used; the message says why."""


def read_bounded(path: str, limit: int, what: str = "") -> bytes | None:
    """The file's bytes, None when it does not exist; PayloadError beyond `limit`."""
    what = what or os.path.basename(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise PayloadError(f"cannot read the {what}: {error}") from error
    if len(data) > limit:
        raise PayloadError(f"the {what} is larger than {limit} bytes")
    return data


def _refuse_constant(name: str):
    raise PayloadError(f"{name} is not a finite number")


def parse_json(data: bytes, what: str):
    """JSON without NaN or Infinity; PayloadError for anything that does not parse."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except PayloadError as error:
        raise PayloadError(f"{what}: {error}") from None
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise PayloadError(f"{what} is not JSON: {str(error)[:200]}") from None


def finite_number(value) -> float | int | None:
    """`value` if it is a finite number storable as a double, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        as_float = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(as_float) else None


def clean_metrics(data) -> dict[str, float | int]:
    """The numbers of a metrics object; PayloadError when it is not a usable object.

    Values that are not numbers (text, lists) are left out, as before; a
    non-finite or oversized number, too many or too long names refuse the file.
    """
    if not isinstance(data, dict):
        raise PayloadError(f"{METRICS_PROBLEM} (it holds a {type(data).__name__})")
    if len(data) > limits.MAX_METRICS:
        raise PayloadError(f"{METRICS_PROBLEM} (more than {limits.MAX_METRICS} entries)")
    numbers = {}
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if len(str(name)) > limits.MAX_METRIC_NAME or finite_number(value) is None:
            raise PayloadError(f"{METRICS_PROBLEM} ({str(name)[:40]!r} is out of range)")
        if str(name).startswith(PHASE_PREFIX) and not 0 <= value <= limits.MAX_SECONDS:
            # A phase is a duration (appliance/phases.py): a negative or endless one is a bug.
            raise PayloadError(f"{METRICS_PROBLEM} (phase {str(name)[:40]!r} must be from 0 to "
                               f"{limits.MAX_SECONDS} seconds)")
        numbers[str(name)] = value if isinstance(value, float) else _small_int(value)
    return numbers


def _small_int(value: int) -> int | float:
    # Integers beyond 64 bits do not survive every JSON reader: store them as doubles.
    return value if -2**63 <= value < 2**63 else float(value)


def read_metrics(path: str) -> tuple[dict | None, str | None]:
    """(numbers, None), (None, None) when there is no file, (None, problem) when unusable."""
    try:
        data = read_bounded(path, limits.MAX_METRICS_BYTES, "metrics file")
        if data is None:
            return None, None
        return clean_metrics(parse_json(data, "metrics file")), None
    except PayloadError as error:
        return None, str(error)


def shorten(text: str, limit: int = limits.MAX_REASON) -> str:
    """`text` within `limit` characters, keeping its start and its end (where the
    cause usually is: '... timed out')."""
    text = str(text)
    if len(text) <= limit:
        return text
    head = limit // 3
    tail = limit - head - 5
    return f"{text[:head]} ... {text[-tail:]}"
