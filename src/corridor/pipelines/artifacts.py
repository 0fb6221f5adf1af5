"""What a step may return, and its output as the bytes a pipeline keeps.

A step's output is stored as a payload blob (``corridor.compute.sansio.payload``), the codec that
never pickles: JSON values, numpy arrays, tensors, bytes, and tables, written as Parquet here
because outputs are kept (a job's arguments travel as Arrow IPC). On top of the codec this module
turns the few things a step naturally returns into ones it can hold:

- a pandas DataFrame (or Series) becomes an Arrow table, without its index unless the index is
  named (a RangeIndex is row numbers, not data);
- a dataset version, model version or tracking run of our SDK becomes a reference to it
  (``{"$dataset_version": "sales@3"}``, ``{"$model_version": "churn@2"}``, ``{"$run": id}``), so
  a step that registers a model returns the version and lineage links the step run to it.

Anything else (a fitted estimator, a lambda, an open file) is refused with a message that says
what to return instead. Encoding is deterministic: the same value gives the same bytes and so the
same digest, which feeds the cache keys of the steps downstream.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterator
from typing import Final

from corridor.compute.sansio import payload
from corridor.errors import InvalidInput

DATASET_VERSION: Final = "$dataset_version"
MODEL_VERSION: Final = "$model_version"
RUN: Final = "$run"
_REFERENCE_KINDS: Final = {
    DATASET_VERSION: "dataset_version",
    MODEL_VERSION: "model_version",
    RUN: "run",
}
_SAFE_VALUES: Final = "arrays (numpy), tables (pyarrow, polars, pandas), tensors or JSON values"
_WHAT_TO_RETURN: Final = (
    "register it as a model version (client.registry / corridor.training) and return the "
    f"version, or return its {_SAFE_VALUES}"
)
_STEP_SUBJECT: Final = re.compile(r"^(the step|step '[^']*')$")
_LIBRARY_LEAVES: Final = {
    "numpy": ("ndarray",),
    "pyarrow": ("Table", "RecordBatch"),
    "polars": ("DataFrame",),
    "torch": ("Tensor",),
}


def to_storable(value: object, *, where: str) -> object:
    """``value`` with every leaf the payload codec cannot hold converted, or InvalidInput.

    ``where`` names the value's origin in the message: ``"step 'train'"``.
    """
    return _storable(value, "output", 0, where)


def encode_output(value: object, *, where: str = "the step") -> bytes:
    """The payload bytes a step's output is kept as: ``to_storable``, tables as Parquet.

    One walk: the codec asks this module about each leaf it does not know, so a large output is
    not copied before it is encoded. Equal to ``payload.encode(to_storable(value),
    tables="parquet")``.
    """
    return payload.encode(
        value,
        path="output",
        tables="parquet",
        convert=lambda leaf, path: _convert_leaf(leaf, path, where),
    )


def decode_output(data: bytes) -> object:
    """The value of an output's bytes (tables come back as pyarrow tables or polars frames)."""
    return payload.decode(data)


def digest(data: bytes) -> str:
    """The sha256 hex digest of an output's bytes: its identity in caches and the blob store."""
    return hashlib.sha256(data).hexdigest()


def kind_of(value: object) -> str:
    """One word for what an output holds, for listings: table, array, tensor, json, bytes,
    dataset_version, model_version, run, mixed (a container of several kinds) or none."""
    if value is None:
        return "none"
    kinds = {_reference_kind(leaf) or _leaf_kind(leaf) or "json" for leaf in _leaves(value)}
    if len(kinds) > 1:
        return "mixed"
    return kinds.pop() if kinds else "json"


def references(value: object) -> list[tuple[str, str]]:
    """The dataset versions, model versions and tracking runs an output names, for lineage:
    ``[("dataset_version", "sales@3"), ("run", "ab12...")]``, in order, without repeats."""
    found: list[tuple[str, str]] = []
    for leaf in _leaves(value):
        ref = _reference_of(leaf)
        if ref is not None and ref not in found:
            found.append(ref)
    return found


# ---------------------------------------------------------------------------------------------


def _storable(value: object, path: str, depth: int, where: str) -> object:
    if depth > payload.MAX_DEPTH:
        raise InvalidInput(f"{path}: nested deeper than {payload.MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, list | tuple):
        items = [_storable(v, f"{path}[{i}]", depth + 1, where) for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {k: _storable(v, f"{path}[{k!r}]", depth + 1, where) for k, v in value.items()}
    if "numpy" in sys.modules and isinstance(value, sys.modules["numpy"].generic):
        return _storable(value.item(), path, depth + 1, where)
    if isinstance(value, bytearray | memoryview | payload.DatasetInput) or _library_leaf(value):
        return value
    return _convert_leaf(value, path, where)


def _library_leaf(value: object) -> bool:
    """Whether ``value`` is an array, table or tensor the codec holds (it checks their content)."""
    cls = type(value)
    top = cls.__module__.split(".")[0]
    if top not in _LIBRARY_LEAVES or top not in sys.modules:
        return False
    library = sys.modules[top]
    kinds = (getattr(library, name, None) for name in _LIBRARY_LEAVES[top])
    return any(isinstance(value, kind) for kind in kinds if isinstance(kind, type))


def _convert_leaf(value: object, path: str, where: str) -> object:
    """A leaf the codec does not know, as one it does; InvalidInput saying what to return."""
    ref = _reference_of(value)
    if ref is not None and not isinstance(value, dict):
        tag = next(t for t, kind in _REFERENCE_KINDS.items() if kind == ref[0])
        return {tag: ref[1]}
    if "pandas" in sys.modules:
        import pandas as pd  # type: ignore[import-untyped]

        if isinstance(value, pd.Series):
            value = value.to_frame()
        if isinstance(value, pd.DataFrame):
            return _pandas_table(value, path)
    if "numpy" in sys.modules and isinstance(value, sys.modules["numpy"].generic):
        return value.item()
    at = "" if path == "output" else f" (at {path})"
    name = _public_type_name(value)
    # "step 'train' returned a ..." for an output; "argument 'rows' of step 'x': a ..." otherwise.
    subject = f"{where} returned" if _STEP_SUBJECT.match(where) else f"{where}:"
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        what = f"a function or class ({getattr(value, '__qualname__', name)})"
        advice = "call it inside the step and return what it computes: " + _SAFE_VALUES
    else:
        what = f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"
        advice = _WHAT_TO_RETURN
    raise InvalidInput(f"{subject} {what}{at}, which cannot be stored safely (no pickle): {advice}")


def _pandas_table(frame: object, path: str) -> object:
    import pandas as pd
    import pyarrow as pa  # type: ignore[import-untyped]

    assert isinstance(frame, pd.DataFrame)
    named_index = any(name is not None for name in frame.index.names)
    try:
        return pa.Table.from_pandas(frame, preserve_index=named_index)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{path}: this pandas DataFrame has no Arrow form ({exc}); give its object columns "
            "one type each"
        ) from exc


def _reference_of(value: object) -> tuple[str, str] | None:
    """``(kind, ref)`` when ``value`` is an SDK record or a reference dict, else None."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key in _REFERENCE_KINDS and isinstance(inner, str):
                return _REFERENCE_KINDS[key], inner
        return None
    module = type(value).__module__
    name = type(value).__name__
    if module == "corridor.data.schemas" and name == "DatasetVersionOut":
        return "dataset_version", f"{value.dataset}@{value.version}"  # type: ignore[attr-defined]
    if module == "corridor.registry.schemas" and name == "ModelVersionOut":
        return "model_version", f"{value.name}@{value.version}"  # type: ignore[attr-defined]
    if module == "corridor.tracking.schemas" and name == "RunOut":
        return "run", str(value.info.run_id)  # type: ignore[attr-defined]
    if module == "corridor.tracking.fluent" and name == "ActiveRun":
        return "run", str(value.run_id)  # type: ignore[attr-defined]
    return None


def _reference_kind(value: object) -> str | None:
    ref = _reference_of(value)
    return None if ref is None else ref[0]


def _leaf_kind(value: object) -> str | None:
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes"
    top = type(value).__module__.split(".")[0]
    if top == "torch" and _library_leaf(value):
        return "tensor"
    if top == "numpy" and _library_leaf(value):
        return "array"
    if top in ("pyarrow", "polars", "pandas") and type(value).__name__ in (
        "Table",
        "RecordBatch",
        "DataFrame",
    ):
        return "table"
    return None


def _leaves(value: object) -> Iterator[object]:
    """The non-container values of ``value`` (a reference dict counts as one), depth-first."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict) and _reference_of(item) is None:
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
        else:
            yield item


def _public_type_name(value: object) -> str:
    """``sklearn.linear_model.LogisticRegression``, not its private ``_logistic`` module."""
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    public = [part for part in cls.__module__.split(".") if not part.startswith("_")]
    return ".".join([*public, cls.__qualname__])
