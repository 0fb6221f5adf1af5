"""Parsing what clients send, with one failure: `InvalidInput`.

Python's ``json`` module recurses once per nesting level, so ``"[" * 1000`` raises
``RecursionError`` (a crash, not a parse error) and a big document costs a lot of Python
objects. ``pydantic_core.from_json`` parses in Rust with a fixed nesting limit (200 levels,
far beyond any message Corridor accepts) and reports both malformed text and excess nesting
as ``ValueError``, so every caller gets one clear 4xx instead of a 500. Integers outside
64 bits are refused here too: no column or id Corridor stores is wider, and letting them
through only moves the failure into the database driver.
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic_core
from pydantic import Field

from corridor.errors import InvalidInput

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""An integer a client may send where it will be stored or compared in SQL."""


def parse_json(data: str | bytes, what: str = "request body") -> Any:
    """Parse JSON text from a client; `InvalidInput` naming ``what`` if it is not JSON."""
    try:
        return pydantic_core.from_json(data, allow_inf_nan=True)
    except ValueError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None


def in_int64(value: int) -> bool:
    """Whether ``value`` fits a signed 64-bit column."""
    return INT64_MIN <= value <= INT64_MAX
