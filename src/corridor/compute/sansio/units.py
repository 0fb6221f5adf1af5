"""Memory sizes and durations as people type them, parsed to bytes and seconds.

Memory suffixes are powers of 1024 whichever way they are spelled ("2G", "2Gi", "2GiB" and "2GB"
are all 2 x 2^30 bytes), as Docker and Slurm read ``--memory 2G``: a job that asks for "2GB" and
gets 7% less than it meant would fail in a way nobody could explain. A bare number is bytes.
Durations combine ``d``, ``h``, ``m``, ``s`` and ``ms`` parts ("1h30m", "90s", "1.5h"); a bare
number is seconds. Bad text raises ``InvalidInput`` naming the value and what was expected.
"""

from __future__ import annotations

import math
import re

from corridor.errors import InvalidInput

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgtp])(?:ib|i|b)?|b)?\s*$", re.IGNORECASE)
_MEMORY_POWER = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|d|h|m|s)", re.IGNORECASE)
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# One exbibyte: far beyond any machine, small enough that arithmetic on it stays exact.
MAX_MEMORY_BYTES = 2**60
# A hundred years: longer than any job, short enough to add to an epoch without overflow.
MAX_DURATION_S = 100 * 365 * 86400.0


def parse_memory(value: str | int | float, what: str = "memory") -> int:
    """Bytes from ``2G``, ``512M``, ``1.5GiB`` or a number of bytes; InvalidInput otherwise."""
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a size such as 512M or 2G, not {value!r}")
    if isinstance(value, int | float):
        amount = float(value)
    else:
        match = _MEMORY.match(value)
        if match is None:
            raise InvalidInput(
                f"{what} {value!r} is not a size: use bytes or a number with K, M, G, T or P "
                "(powers of 1024), e.g. 512M or 2G"
            )
        amount = float(match.group(1)) * 1024.0 ** _MEMORY_POWER[(match.group(2) or "").lower()]
    if not math.isfinite(amount) or amount < 0:
        raise InvalidInput(f"{what} must be a size of zero bytes or more, not {value!r}")
    if amount > MAX_MEMORY_BYTES:
        raise InvalidInput(f"{what} {value!r} is larger than any machine (at most 1 EiB)")
    return round(amount)


def parse_duration(value: str | int | float, what: str = "duration") -> float:
    """Seconds from ``10m``, ``90s``, ``1h30m``, ``250ms`` or a number of seconds (zero or more)."""
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a duration such as 90s or 10m, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().replace(" ", "")
        parsed = _parse_duration_text(text)
        if parsed is not None:
            seconds = parsed
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise InvalidInput(
                    f"{what} {value!r} is not a duration: use seconds or parts such as "
                    "90s, 10m, 1h30m, 2d, 250ms"
                ) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidInput(
            f"{what} must be a finite number of seconds, zero or more, not {value!r}"
        )
    if seconds > MAX_DURATION_S:
        raise InvalidInput(f"{what} {value!r} is longer than a hundred years")
    return seconds


def _parse_duration_text(text: str) -> float | None:
    """The sum of the text's unit parts, or None unless the whole text is such parts."""
    total = 0.0
    end = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != end:
            return None
        total += float(match.group(1)) * _DURATION_SECONDS[match.group(2).lower()]
        end = match.end()
    return total if end == len(text) and end > 0 else None


def format_bytes(n: int) -> str:
    """``1536`` -> ``1.5 KiB``: the largest binary unit that keeps the number at least 1."""
    amount = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024.0 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024.0
    raise AssertionError("unreachable")  # pragma: no cover


def format_duration(seconds: float) -> str:
    """``5400`` -> ``1h30m``; under a minute keeps one decimal (``2.5s``)."""
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    return "".join(f"{v}{u}" for v, u in parts if v) or "0s"


def format_gpus(gpus: float) -> str:
    """``2.0`` -> ``2``, ``0.5`` -> ``0.5``: GPU counts as a person writes them."""
    return f"{gpus:g}"
