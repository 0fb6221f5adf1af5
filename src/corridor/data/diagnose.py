"""Find where a bad input goes wrong: the line and column to name in the error.

The fast engines say *that* a file is bad (a row with too many fields, bytes that are not UTF-8,
a value that does not parse); these functions then find *where*. They run only on the failure
path (or, for short rows, when a cheap statistic says there may be one), and stop at the first
problem, so a good file never pays for them.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import polars as pl

READ_BYTES = 1 << 20


@dataclass(frozen=True)
class Location:
    line: int
    column: int | None = None

    def __str__(self) -> str:
        return f"line {self.line}" + (f", column {self.column}" if self.column else "")


def invalid_utf8(path: Path) -> tuple[Location, bytes] | None:
    """The position (column in characters) and bytes of the first invalid UTF-8 sequence."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    line, last_line = 1, b""
    with path.open("rb") as f:
        while True:
            chunk = f.read(READ_BYTES)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # The decoder may hold a few bytes of an unfinished character from the previous
                # chunk; positions are close enough to show the user where to look.
                start = max(exc.start, 0)
                before = chunk[:start]
                line += before.count(b"\n")
                tail = before.rpartition(b"\n")[2] if b"\n" in before else last_line + before
                column = len(tail.decode("utf-8", errors="replace")) + 1
                return Location(line, column), chunk[start : start + max(exc.end - exc.start, 1)]
            if not chunk:
                return None
            line += chunk.count(b"\n")
            last_line = chunk.rpartition(b"\n")[2] if b"\n" in chunk else last_line + chunk


@dataclass(frozen=True)
class RaggedRow:
    location: Location
    fields: int
    expected: int


def _reader(f: TextIO, delimiter: str, quote_char: str | None) -> Any:
    if quote_char is None:
        return csv.reader(f, delimiter=delimiter, quoting=csv.QUOTE_NONE)
    return csv.reader(f, delimiter=delimiter, quotechar=quote_char)


def ragged_row(path: Path, delimiter: str, quote_char: str | None) -> RaggedRow | None:
    """The first row whose number of fields differs from the first row's."""
    csv.field_size_limit(1 << 30)
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = _reader(f, delimiter, quote_char)
        expected: int | None = None
        for row in reader:
            if not row:
                continue  # blank lines are skipped by every engine
            if expected is None:
                expected = len(row)
            elif len(row) != expected:
                line = reader.line_num
                column = min(len(row), expected) + 1
                return RaggedRow(Location(line, column), len(row), expected)
    return None


def has_short_rows(path: Path, delimiter: str, quote_char: str | None) -> bool:
    """Whether any row has fewer fields than the first (native parser, one column kept)."""
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
    from pyarrow import csv as pacsv

    found = False

    def invalid(row: object) -> str:
        nonlocal found
        found = True
        return "error"

    parse = pacsv.ParseOptions(
        delimiter=delimiter,
        quote_char=quote_char if quote_char is not None else False,
        newlines_in_values=True,
        invalid_row_handler=invalid,
    )
    read = pacsv.ReadOptions(autogenerate_column_names=True, block_size=8 << 20)
    convert = pacsv.ConvertOptions(include_columns=["f0"], column_types={"f0": pa.string()})
    try:
        with pacsv.open_csv(str(path), read, parse, convert) as reader:
            for _ in reader:
                pass
    except pa.ArrowInvalid:
        return True
    return found


def bad_quoting(path: Path, delimiter: str, quote_char: str) -> tuple[Location, str] | None:
    """The row where a quoted field is never closed, or a closing quote is followed by more
    text, and which of the two; None if the quoting is sound."""
    csv.field_size_limit(1 << 30)
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, quotechar=quote_char, strict=True)
        started = 1
        try:
            for _ in reader:
                started = reader.line_num + 1
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                return Location(started), f"a field opened with {quote_char} is never closed"
            return Location(reader.line_num), (
                f"a closing {quote_char} is followed by more text before the delimiter"
            )
    return None


@dataclass(frozen=True)
class BadValue:
    row: int  # 1-based data row
    location: Location


def unparsable_value(
    scan: pl.LazyFrame, column: str, value: str, *, first_line: int
) -> BadValue | None:
    """The first data row where ``column`` holds ``value``; ``scan`` reads every column as text."""
    found = (
        scan.with_row_index("__corridor_row")
        .filter(pl.col(column) == value)
        .select("__corridor_row")
        .head(1)
        .collect(engine="streaming")
    )
    if found.height == 0:
        return None
    row = int(found.item()) + 1
    return BadValue(row, Location(first_line + row - 1))


def bad_json_line(path: Path) -> tuple[Location, str] | None:
    """The first line of a JSON-lines file that is not a JSON object, and why."""
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                return Location(number, exc.pos + 1), exc.msg
            if not isinstance(value, dict):
                return Location(number, 1), f"a JSON {type(value).__name__}, not an object"
    return None


def describe_fields(row: RaggedRow, names: Sequence[str] | Mapping[str, object]) -> str:
    names = list(names)
    if row.fields > row.expected:
        return f"{row.fields} fields where the header row has {row.expected}"
    missing = names[row.fields :] if len(names) == row.expected else []
    what = f" (no value for {', '.join(repr(n) for n in missing[:5])})" if missing else ""
    return f"{row.fields} fields where the header row has {row.expected}{what}"
