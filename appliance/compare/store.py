"""Comparisons of two final sides, kept: computed once, read back on every later view
(and still there after retention removed the jobs they were made from)."""
from __future__ import annotations

from appliance.models import Comparison


def get(key: str) -> dict | None:
    row = Comparison.get_or_none(Comparison.key == key)
    return row.result if row is not None else None


def put(key: str, result: dict, now: float) -> None:
    """Keep `result`; a comparison another process kept first is left as it is (same inputs,
    same seed: the same result)."""
    Comparison.insert(key=key, result=result, computed_at=now).on_conflict_ignore().execute()
