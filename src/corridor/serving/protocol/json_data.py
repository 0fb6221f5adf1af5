"""Tensor data written as JSON (the ``data`` list of an OIP input), into NumPy arrays. No I/O.

OIP's JSON ``data`` is a flat or row-major nested list of numbers (``true``/``false`` for
``BOOL``, strings for ``BYTES``), whatever the tensor's shape. Invariant: the array returned has
exactly the declared element count and datatype, and nothing a client writes (strings in a
numeric tensor, ragged lists, integers out of the datatype's range, floats that overflow FP16 or
FP32) is converted silently; each is `InvalidInput` naming the input.

Cost: one `np.array` call lets NumPy infer what the list holds (its C loop is the fastest way to
read a list of Python numbers), one cast to the declared datatype, and for integer datatypes
one min/max pass for the range. ``NaN`` and ``Infinity`` pass as numbers: the signature check
decides whether the model may see them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from corridor.errors import InvalidInput
from corridor.serving.tensors import DATATYPES

# The kinds of array `np.array(data)` may infer that each family of datatypes accepts.
_FLOAT_KINDS = frozenset("biuf")
_INT_KINDS = frozenset("biu")
_LIMITS: dict[str, tuple[int, int]] = {
    name: (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
    for name, dtype in DATATYPES.items()
    if dtype.kind in "iu"
}


def array_from_json(data: Any, *, name: str, datatype: str, count: int) -> npt.NDArray[Any]:
    """The flat array of ``count`` ``datatype`` elements that ``data`` lists."""
    if not isinstance(data, list):
        raise InvalidInput(f"input {name!r}: 'data' must be a list of values")
    if datatype == "BYTES":
        return _bytes_from_json(data, name, count)
    dtype = DATATYPES[datatype]
    if data and not isinstance(data[0], list) and len(data) != count:
        raise _count_mismatch(name, count, len(data))
    try:
        parsed = np.array(data)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput(
            f"input {name!r}: 'data' must be a flat or evenly nested list of {datatype} values"
        ) from None
    if parsed.size != count:
        raise _count_mismatch(name, count, parsed.size)
    if count == 0:
        return np.empty(0, dtype=dtype)
    kind = parsed.dtype.kind
    if datatype == "BOOL":
        if kind != "b":
            raise InvalidInput(f"input {name!r}: BOOL data must be true or false values")
        return parsed.reshape(-1)
    if dtype.kind == "f":
        if kind not in _FLOAT_KINDS:
            raise _not_numbers(name, datatype)
        if (kind == "f" and dtype.itemsize < 8) or (dtype.itemsize == 2 and kind in "iu"):
            # float64 -> FP32 (and large integers -> FP16) turn values past the type's range
            # into inf; refuse them instead.
            with np.errstate(over="raise"):
                try:
                    return parsed.astype(dtype).reshape(-1)  # a new array
                except FloatingPointError:
                    raise InvalidInput(
                        f"input {name!r}: a value is beyond the range of {datatype}"
                    ) from None
        return parsed.astype(dtype, copy=False).reshape(-1)
    low, high = _LIMITS[datatype]
    if kind in "fO":
        # NumPy infers float64 for integers that no one integer type holds (-1 beside 2**64-1)
        # and object for integers past 64 bits: look at the values themselves (rare, so slow).
        flat = _flatten(data)
        if kind == "f" and not all(type(item) is int for item in flat):
            raise InvalidInput(f"input {name!r}: {datatype} data must be integers")
        if kind == "O" and not all(type(item) is int for item in flat):
            raise _not_numbers(name, datatype)
        if min(flat) < low or max(flat) > high:
            raise _out_of_range(name, datatype)
        return np.array(flat, dtype=dtype)
    if kind not in _INT_KINDS:
        raise _not_numbers(name, datatype)
    # Only a wider inferred type can hold values the declared one cannot.
    in_range = (
        kind == "b"
        or parsed.dtype == dtype
        or (int(parsed.min()) >= low and int(parsed.max()) <= high)
    )
    if not in_range:
        raise _out_of_range(name, datatype)
    return parsed.astype(dtype, copy=False).reshape(-1)


def _bytes_from_json(data: list[Any], name: str, count: int) -> npt.NDArray[Any]:
    flat = _flatten(data) if data and isinstance(data[0], list) else data
    if len(flat) != count:
        raise _count_mismatch(name, count, len(flat))
    try:
        encoded = [item.encode() for item in flat]
    except (AttributeError, UnicodeEncodeError):
        raise InvalidInput(f"input {name!r}: BYTES data in JSON must be strings") from None
    out: npt.NDArray[Any] = np.empty(count, dtype=object)
    out[:] = encoded
    return out


def _flatten(data: list[Any]) -> list[Any]:
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _count_mismatch(name: str, expected: int, got: int) -> InvalidInput:
    return InvalidInput(
        f"input {name!r}: its shape holds {expected} elements but 'data' has {got}; "
        "send exactly one value per element, row-major"
    )


def _out_of_range(name: str, datatype: str) -> InvalidInput:
    low, high = _LIMITS[datatype]
    return InvalidInput(
        f"input {name!r}: a value is outside the range of {datatype} ({low}..{high})"
    )


def _not_numbers(name: str, datatype: str) -> InvalidInput:
    return InvalidInput(
        f"input {name!r}: {datatype} data must be numbers (no strings, nulls or objects; "
        "NaN and Infinity only as JSON number literals)"
    )
