"""Turning what a data factory returns (or a dataset version's table) into two tensors.

Accepted: a pair ``(features, labels)`` of tensors or arrays with one row per sample; a
map-style ``torch.utils.data.Dataset`` (``__len__`` and ``__getitem__`` giving ``(x, y)``);
any iterable of ``(x, y)`` samples; and, for a dataset version, a pyarrow Table read with the
named feature and label columns. The samples are held in memory as two tensors, which is what
lets every rank and every attempt index the same order cheaply; data larger than memory is not
handled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from corridor.errors import InvalidInput


def as_tensors(data: object, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features, labels)`` with one row per sample; InvalidInput naming ``source`` if the
    data is empty, of a kind this does not read, or its two halves disagree in length."""
    if isinstance(data, tuple | list) and len(data) == 2 and all(_array_like(d) for d in data):
        features, labels = (torch.as_tensor(np.asarray(d)) if not isinstance(d, torch.Tensor)
                            else d for d in data)  # fmt: skip
    elif hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        features, labels = _stack(
            (data[i] for i in range(len(data))),
            source,
        )
    elif isinstance(data, Iterable):
        features, labels = _stack(iter(data), source)
    else:
        raise InvalidInput(
            f"{source} returned a value of type {type(data).__name__}; return a torch Dataset, "
            "an iterable of (x, y) samples, or a pair of tensors (features, labels)"
        )
    if features.ndim == 0 or labels.ndim == 0:
        raise InvalidInput(f"{source}: features and labels need one row per sample")
    if len(features) == 0:
        raise InvalidInput(f"{source} yielded no samples; there is nothing to train on")
    if len(features) != len(labels):
        raise InvalidInput(
            f"{source}: {len(features)} rows of features but {len(labels)} labels; "
            "each sample needs one label"
        )
    return features, labels


def _array_like(value: object) -> bool:
    return isinstance(value, torch.Tensor | np.ndarray)


def _stack(samples: Iterable[Any], source: str) -> tuple[torch.Tensor, torch.Tensor]:
    xs: list[torch.Tensor] = []
    ys: list[torch.Tensor] = []
    for index, sample in enumerate(samples):
        if not (isinstance(sample, tuple | list) and len(sample) == 2):
            raise InvalidInput(f"{source}: sample {index} is not an (x, y) pair")
        xs.append(torch.as_tensor(sample[0]))
        ys.append(torch.as_tensor(sample[1]))
    if not xs:
        raise InvalidInput(f"{source} yielded no samples; there is nothing to train on")
    try:
        return torch.stack(xs), torch.stack(ys)
    except RuntimeError as exc:
        raise InvalidInput(f"{source}: the samples do not all have one shape ({exc})") from None


def from_table(
    table: Any, features: Sequence[str] | None, label: str, source: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (float32; list columns such as embeddings are spread out) and labels (int64
    for integer columns, else float32) from a pyarrow Table."""
    names = list(table.column_names)
    if label not in names:
        raise InvalidInput(f"{source} has no column {label!r}; its columns: {', '.join(names)}")
    columns = list(features) if features else [n for n in names if n != label]
    missing = [c for c in columns if c not in names]
    if missing:
        raise InvalidInput(
            f"{source} has no column {missing[0]!r}; its columns: {', '.join(names)}"
        )
    if table.num_rows == 0:
        raise InvalidInput(f"{source} has no rows; there is nothing to train on")
    parts = []
    for name in columns:
        values = table.column(name).to_pylist()
        parts.append(np.asarray(values, dtype=np.float32).reshape(table.num_rows, -1))
    x = torch.from_numpy(np.concatenate(parts, axis=1))
    raw = np.asarray(table.column(label).to_pylist())
    y = torch.from_numpy(raw.astype(np.int64 if raw.dtype.kind in "iub" else np.float32))
    return x, y
