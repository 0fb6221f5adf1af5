"""Opaque page tokens: what a listing needs to continue, bound to the query that made it. No I/O.

A token is URL-safe base64 of a small JSON object. It names the kind of listing and a digest of
the query, so a token from one search cannot be replayed against another (which would silently
skip or repeat results).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

import pydantic_core

from corridor.client_input import INT64_MAX
from corridor.errors import InvalidInput


def query_digest(*parts: object) -> str:
    """A short digest of the query a token belongs to (the parts must be JSON-serialisable)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(kind: str, query: str, position: dict[str, Any]) -> str:
    raw = json.dumps({"k": kind, "q": query, "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str, kind: str, query: str) -> dict[str, Any]:
    """Return the position stored in ``token``; `InvalidInput` if it is not one of ours for it."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = pydantic_core.from_json(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidInput(
            "page_token is malformed; pass back a token a listing returned"
        ) from None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("p"), dict):
        raise InvalidInput(f"page_token was not issued by this listing ({kind})")
    if data.get("q") != query:
        raise InvalidInput(
            "page_token belongs to a different query; repeat the same filter and order to page on"
        )
    position: dict[str, Any] = data["p"]
    return position


def offset_of(token: str | None, kind: str, query: str) -> int:
    """The offset stored in an offset token (0 without a token)."""
    if token is None or token == "":
        return 0
    offset = decode(token, kind, query).get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= INT64_MAX:
        raise InvalidInput("page_token holds no valid offset")
    return offset
