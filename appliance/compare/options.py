"""What a comparison is asked for, read the same way from a query string, a form and
the command line: the sides A and B, an optional site, declared metric directions."""
from __future__ import annotations

from dataclasses import dataclass

from appliance.errors import BadInput

MAX_SPEC = 300        # characters of one side
MAX_DIRECTIONS = 50   # declared metric directions


@dataclass(frozen=True)
class Request:
    a: str
    b: str
    site: str | None
    directions: tuple[str, ...]


def request_from(a: str | None, b: str | None, site: str | None,
                 directions: list[str]) -> Request:
    """A checked Request; BadInput when a side is missing or anything is oversized."""
    a, b, site = (a or "").strip(), (b or "").strip(), (site or "").strip() or None
    if not a:
        raise BadInput("a (the reference side: test:ID or template:NAME@START..END) is missing")
    if not b and site is None:
        raise BadInput("b (the side compared with a) is missing; or give site to compare one "
                       "site with the other sites of test a")
    for name, value in (("a", a), ("b", b), ("site", site or "")):
        if len(value) > MAX_SPEC:
            raise BadInput(f"{name} is longer than {MAX_SPEC} characters")
    if len(directions) > MAX_DIRECTIONS:
        raise BadInput(f"at most {MAX_DIRECTIONS} directions")
    return Request(a, b, site, tuple(d for d in directions if d.strip()))
