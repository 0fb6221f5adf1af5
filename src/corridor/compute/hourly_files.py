"""Hourly CSV files (carbon intensity, energy price) read into `HourlyTrace`s.

The format is two columns with a header, ``timestamp,value``; timestamps are ISO 8601 in UTC
(``2026-05-01T13:00:00Z``; an explicit offset is converted, a time without one is read as UTC),
strictly increasing; values are finite numbers of zero or more. Errors name the line, so a
person can fix the file rather than guess.
"""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from pathlib import Path

from corridor.compute.sansio.traces import HourlyTrace

HEADER = ["timestamp", "value"]


class TraceFileError(ValueError):
    """The file is missing, unreadable or not in the format above; the message says where."""


def read_hourly_csv(path: Path) -> HourlyTrace:
    """The trace in ``path``; `TraceFileError` naming the line when it is malformed."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise TraceFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TraceFileError(f"{path} is not a UTF-8 CSV file: {exc}") from None
    if not rows or [c.strip().lower() for c in rows[0]] != HEADER:
        first = ",".join(rows[0]) if rows else "nothing"
        raise TraceFileError(f"{path} line 1 must be the header 'timestamp,value', not {first!r}")
    points: list[tuple[float, float]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise TraceFileError(f"{path} line {line}: expected 2 fields, found {len(row)}")
        epoch_s = _timestamp(path, line, row[0].strip())
        value = _value(path, line, row[1].strip())
        if points and epoch_s <= points[-1][0]:
            raise TraceFileError(
                f"{path} line {line}: timestamp {row[0].strip()} is not after the line before; "
                "rows must be in increasing time order, one per time"
            )
        points.append((epoch_s, value))
    if not points:
        raise TraceFileError(f"{path} has a header but no rows")
    return HourlyTrace(points)


def _timestamp(path: Path, line: int, text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TraceFileError(
            f"{path} line {line}: {text!r} is not an ISO 8601 time such as 2026-05-01T13:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _value(path: Path, line: int, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TraceFileError(f"{path} line {line}: value {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise TraceFileError(f"{path} line {line}: value {text!r} must be a number of 0 or more")
    return value
