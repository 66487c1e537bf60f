"""Moments in time as users write them: now, +10m, or an ISO 8601 time."""
from __future__ import annotations

import datetime as dt

from appliance.config import parse_duration
from appliance.documents import SpecError
from appliance.errors import BadInput


def parse_when(text: str, now: float) -> float:
    """'now', '+10m' (relative to `now`), or an ISO 8601 time (UTC unless it says otherwise)."""
    text = text.strip()
    if text == "now":
        return now
    if text.startswith("+"):
        try:
            return now + parse_duration(text[1:])
        except BadInput as error:
            raise SpecError(str(error)) from None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise SpecError(f"{text!r} is not a time: use now, +10m or 2026-01-31T12:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def iso_seconds(timestamp: float) -> str:
    """A UTC time as an <input type=datetime-local step=1> value."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
