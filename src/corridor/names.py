"""Rules for the names users give things (users, projects, datasets, models...)."""

from __future__ import annotations

import re
import unicodedata

from corridor.errors import InvalidInput

MAX_NAME_LENGTH = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_name(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid name, else raise ``InvalidInput`` saying why.

    Names end up in URLs, file names and log lines, so they are kept to a safe alphabet.
    """
    if not value:
        raise InvalidInput(f"{kind} name must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{kind} name is {len(value)} characters; at most {MAX_NAME_LENGTH}")
    if "/" in value or "\\" in value:
        raise InvalidInput(
            f"{kind} name {value!r} contains a path separator; use letters, digits, '.', '_' or '-'"
        )
    bad = next((c for c in value if unicodedata.category(c).startswith("C")), None)
    if bad is not None:
        raise InvalidInput(f"{kind} name contains the control character {bad!r}")
    if value in {".", ".."} or not _NAME.fullmatch(value):
        raise InvalidInput(
            f"{kind} name {value!r} is invalid: start with a letter or digit, "
            "then use letters, digits, '.', '_' or '-'"
        )
    return value
