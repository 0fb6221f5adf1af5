"""Names for column types, as users write them in expectations and recipes.

One spelling per type (``int64``, ``float64``, ``string``, ``date``, ``datetime[ms, UTC]``...)
plus a few aliases and families (``integer``, ``numeric``, ``temporal``) for checks that do not
care about width.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

import polars as pl

from corridor.errors import InvalidInput

_SIMPLE: dict[str, pl.DataType] = {
    "int8": pl.Int8(),
    "int16": pl.Int16(),
    "int32": pl.Int32(),
    "int64": pl.Int64(),
    "uint8": pl.UInt8(),
    "uint16": pl.UInt16(),
    "uint32": pl.UInt32(),
    "uint64": pl.UInt64(),
    "float32": pl.Float32(),
    "float64": pl.Float64(),
    "bool": pl.Boolean(),
    "string": pl.String(),
    "date": pl.Date(),
    "time": pl.Time(),
    "datetime": pl.Datetime("us"),
    "duration": pl.Duration("us"),
    "categorical": pl.Categorical(),
    "binary": pl.Binary(),
}
_ALIASES = {
    "int": "int64",
    "integer64": "int64",
    "float": "float64",
    "double": "float64",
    "boolean": "bool",
    "str": "string",
    "utf8": "string",
    "category": "categorical",
}
_FAMILIES: dict[str, Callable[[pl.DataType], bool]] = {
    "integer": lambda dt: dt.is_integer(),
    "floating": lambda dt: dt.is_float(),
    "numeric": lambda dt: dt.is_numeric(),
    "temporal": lambda dt: dt.is_temporal(),
    "text": lambda dt: isinstance(dt, pl.String | pl.Categorical | pl.Enum),
}
_PARAMETRISED = re.compile(
    r"(?P<base>datetime|duration)\[\s*(?P<unit>ns|us|ms)\s*(?:,\s*(?P<tz>[A-Za-z0-9_/+\-]+)\s*)?\]"
)
# The units the pattern above accepts, typed as polars takes them.
_UNITS: dict[str, Literal["ns", "us", "ms"]] = {"ns": "ns", "us": "us", "ms": "ms"}
_DECIMAL = re.compile(r"decimal\(\s*(?P<p>\d+)\s*,\s*(?P<s>\d+)\s*\)")


def known_dtypes() -> list[str]:
    """The names ``parse_dtype`` accepts, for error messages and docs."""
    return [*_SIMPLE, "datetime[UNIT, TZ]", "duration[UNIT]", "decimal(P, S)"]


def parse_dtype(text: str) -> pl.DataType:
    """The Polars type that ``text`` names, e.g. ``"int64"`` or ``"datetime[ms, UTC]"``."""
    key = text.strip().lower()
    key = _ALIASES.get(key, key)
    if key in _SIMPLE:
        return _SIMPLE[key]
    # Time zone names are case-sensitive, so match the parametrised forms on the original text.
    match = _PARAMETRISED.fullmatch(text.strip())
    if match:
        unit = _UNITS[match["unit"]]
        if match["base"] == "duration":
            if match["tz"]:
                raise InvalidInput(f"type {text!r}: a duration has no time zone")
            return pl.Duration(unit)
        return pl.Datetime(unit, match["tz"])
    match = _DECIMAL.fullmatch(key)
    if match:
        return pl.Decimal(int(match["p"]), int(match["s"]))
    raise InvalidInput(f"unknown type {text!r}; use one of: {', '.join(known_dtypes())}")


def dtype_name(dtype: pl.DataType) -> str:
    """The name ``parse_dtype`` reads back as ``dtype`` (Polars' own name for other types)."""
    if isinstance(dtype, pl.Datetime):
        if dtype.time_unit == "us" and dtype.time_zone is None:
            return "datetime"
        zone = f", {dtype.time_zone}" if dtype.time_zone else ""
        return f"datetime[{dtype.time_unit}{zone}]"
    if isinstance(dtype, pl.Duration):
        return "duration" if dtype.time_unit == "us" else f"duration[{dtype.time_unit}]"
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision}, {dtype.scale})"
    for name, simple in _SIMPLE.items():
        if dtype == simple:
            return name
    return str(dtype).lower()


def dtype_matches(dtype: pl.DataType, wanted: str) -> bool:
    """Whether ``dtype`` is the type or family (``integer``, ``numeric``...) named ``wanted``."""
    family = _FAMILIES.get(wanted.strip().lower())
    if family is not None:
        return family(dtype)
    target = parse_dtype(wanted)
    if isinstance(target, pl.Datetime) and "[" not in wanted:
        return isinstance(dtype, pl.Datetime)  # "datetime" alone means any unit and zone
    return dtype == target


def check_dtype_name(text: str) -> str:
    """Return ``text`` if it names a type or a family, else raise ``InvalidInput``."""
    if text.strip().lower() not in _FAMILIES:
        parse_dtype(text)
    return text
