"""Sampled requests as one table, the shape drift comparison reads best. Pure, no I/O.

One row per row of each sampled request (a request of 3 rows gives 3): ``time`` (UTC, when it
was answered), ``deployment``, ``version``, then the inputs and a summary of the outputs.

- A numeric input of shape ``[n]`` is the column ``name``; of shape ``[n, w]`` (or more, flattened
  per row) with ``w`` up to `MAX_FLAT` values, the columns ``name_0`` .. ``name_{w-1}``: one
  column per feature, so drift is measured per feature against the training data's columns.
  Wider inputs (images, token ids) become ``name_mean``, ``name_std`` and ``name_norm``.
- A text input (``BYTES``) is the column ``name``, with every span the data slice's PII
  recognizers find (emails, card numbers, phone numbers, names...) replaced by ``[ENTITY]``.
- Outputs: a vector output of an embedder is ``name_norm``; a score vector of any other model
  ``name_argmax`` (the class) and ``name_max`` (its score); a one-value output ``name``; text,
  masked as inputs are. An output whose column would clash with an input's gets ``output_``
  in front.

Cost: built at flush time, off the hot path: one concatenation per tensor and, for text, the
recognizers run once per distinct value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from corridor.data.sansio.pii.recognizers import find_all

if TYPE_CHECKING:
    from corridor.serving.sampling import Sampled

MAX_FLAT = 256
"""Inputs up to this many values a row are stored one column per value."""
FIXED = ("time", "deployment", "version")


def mask_text(value: str) -> str:
    """``value`` with each span of personal data replaced by its entity (``[EMAIL]``)."""
    matches = find_all(value)
    if not matches:
        return value
    parts, at = [], 0
    for match in matches:
        parts += [value[at : match.start], f"[{match.entity}]"]
        at = match.end
    parts.append(value[at:])
    return "".join(parts)


def masked_texts(values: Sequence[str | None]) -> list[str | None]:
    """Each value masked; the recognizers run once per distinct value."""
    masked = {v: mask_text(v) for v in set(values) if v is not None}
    return [None if v is None else masked[v] for v in values]


@dataclass(frozen=True)
class SampleTable:
    frame: pl.DataFrame
    inputs: list[str]  # the columns made from inputs, which drift compares
    outputs: list[str]


def sample_frame(entries: Sequence[Sampled], *, deployment: str, kind: str) -> SampleTable:
    """The table of ``entries`` (see the module docstring)."""
    counts = [rows_of(e.inputs) for e in entries]
    each = [(e, n) for e, n in zip(entries, counts, strict=True) for _ in range(n)]
    columns: dict[str, pl.Series] = {
        "time": pl.Series(
            "time",
            [dt.datetime.fromtimestamp(e.at, dt.UTC) for e, _ in each],
            dtype=pl.Datetime("us", "UTC"),
        ),
        "deployment": pl.Series("deployment", [deployment] * len(each), dtype=pl.String),
        "version": pl.Series("version", [e.version for e, _ in each], dtype=pl.String),
    }
    inputs: list[str] = []
    for name in _names(e.inputs for e in entries):
        array = _stacked([e.inputs.get(name) for e in entries], counts)
        made = _input_columns(name, array)
        columns.update(made)
        inputs += made
    outputs: list[str] = []
    for name in _names(e.outputs for e in entries):
        array = _stacked([e.outputs.get(name) for e in entries], counts)
        for column, series in _output_columns(name, array, kind).items():
            key = column if column not in columns else f"output_{column}"
            columns[key] = series.alias(key)
            outputs.append(key)
    return SampleTable(pl.DataFrame(list(columns.values())), inputs, outputs)


def _names(batches: Any) -> list[str]:
    seen: dict[str, None] = {}
    for batch in batches:
        seen.update(dict.fromkeys(batch))
    return list(seen)


def rows_of(batch: dict[str, npt.NDArray[Any]]) -> int:
    """The batch's number of rows (its first tensor's first dimension)."""
    first = next(iter(batch.values()), None)
    return int(first.shape[0]) if first is not None and first.ndim else 1


def _stacked(arrays: list[npt.NDArray[Any] | None], counts: list[int]) -> npt.NDArray[Any]:
    """The tensors of every entry, rows first, flattened to 2-D; a missing one (or one whose
    width differs from the rest) becomes missing values."""
    rows = [a.reshape(a.shape[0] if a.ndim else 1, -1) if a is not None else None for a in arrays]
    widths = {r.shape[1] for r in rows if r is not None}
    text = any(r is not None and r.dtype.kind in "OSU" for r in rows)
    if len(widths) == 1 and all(r is not None for r in rows):
        return np.concatenate([r for r in rows if r is not None]) if not text else _as_text(rows)
    width = max(widths, default=1)
    filled = []
    for r, n in zip(rows, counts, strict=True):
        if r is None or r.shape[1] != width:
            filled.append(
                np.full((n, width), None if text else np.nan, dtype=object if text else float)
            )
        else:
            filled.append(r.astype(object) if text else r.astype(float))
    return _as_text(filled) if text else np.concatenate(filled)


def _as_text(rows: Sequence[npt.NDArray[Any] | None]) -> npt.NDArray[Any]:
    out = np.concatenate([r for r in rows if r is not None]).astype(object)
    decode = np.vectorize(
        lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v, otypes=[object]
    )
    return decode(out) if out.size else out


def _input_columns(name: str, array: npt.NDArray[Any]) -> dict[str, pl.Series]:
    width = array.shape[1]
    if array.dtype == object:
        if width == 1:
            return {name: _text(name, array[:, 0])}
        return {
            f"{name}_{i}": _text(f"{name}_{i}", array[:, i]) for i in range(min(width, MAX_FLAT))
        }
    if width == 1:
        return {name: pl.Series(name, array[:, 0])}
    if width <= MAX_FLAT:
        return {f"{name}_{i}": pl.Series(f"{name}_{i}", array[:, i]) for i in range(width)}
    values = array.astype(np.float64)
    return {
        f"{name}_mean": pl.Series(f"{name}_mean", values.mean(axis=1)),
        f"{name}_std": pl.Series(f"{name}_std", values.std(axis=1)),
        f"{name}_norm": pl.Series(f"{name}_norm", np.linalg.norm(values, axis=1)),
    }


def _output_columns(name: str, array: npt.NDArray[Any], kind: str) -> dict[str, pl.Series]:
    width = array.shape[1]
    if array.dtype == object:
        return {name: _text(name, array[:, 0])} if width == 1 else {}
    if width == 1:
        return {name: pl.Series(name, array[:, 0])}
    values = array.astype(np.float64)
    if kind == "embeddings" or array.dtype.kind not in "fiu":
        return {f"{name}_norm": pl.Series(f"{name}_norm", np.linalg.norm(values, axis=1))}
    filled = np.where(np.isnan(values), -np.inf, values)
    return {
        f"{name}_argmax": pl.Series(f"{name}_argmax", filled.argmax(axis=1).astype(np.int64)),
        f"{name}_max": pl.Series(f"{name}_max", values.max(axis=1)),
    }


def _text(name: str, values: npt.NDArray[Any]) -> pl.Series:
    texts = [None if v is None else str(v) for v in values.tolist()]
    return pl.Series(name, masked_texts(texts), dtype=pl.String)
