"""Bounds on what a request may carry, before any view sees it.

A body is at most MAX_BODY_BYTES (413 beyond); JSON is at most MAX_JSON_DEPTH
deep, its integers at most MAX_INT_DIGITS digits, and NaN or Infinity (which
Python's parser accepts, JSON does not) are refused: each a 400 that says so,
never a RecursionError or an OverflowError deep in a view.
"""
from __future__ import annotations

import json

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

MAX_BODY_BYTES = 1024 * 1024      # a template document is a few kB
MAX_JSON_DEPTH = 32               # a template is 3 deep
MAX_INT_DIGITS = 100              # beyond any bound; a float still holds it (views say which field)


class BoundedJSON(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        text = s.decode("utf-8", "replace") if isinstance(s, bytes | bytearray) else s
        if _depth(text) > MAX_JSON_DEPTH:
            raise BadRequest(f"the JSON body is nested more than {MAX_JSON_DEPTH} deep")
        return json.loads(text, parse_int=_integer, parse_constant=_no_constant, **kwargs)


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise BadRequest(f"a number in the JSON body has more than {MAX_INT_DIGITS} digits")
    return int(digits)


def _no_constant(name: str):
    raise BadRequest(f"{name} is not a JSON number")


def _depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings (without parsing)."""
    deepest = depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def install(app: Flask) -> None:
    app.json = BoundedJSON(app)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_BODY_BYTES
