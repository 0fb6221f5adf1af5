"""Tensor specs and model signatures in the Open Inference Protocol's datatypes. No I/O.

A signature is what a served model accepts and returns: named tensors, each with a datatype
(``FP32``, ``INT64``, ``BYTES``...) and a shape whose first dimension is the batch (``-1``: any
size). Registered packages describe tensors with NumPy dtype names (``float32``); the tables
here translate both ways, and `Batch` is what flows between the gateway and a replica.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from corridor.errors import InvalidInput

Batch = dict[str, npt.NDArray[Any]]
"""Named tensors, batched along their first axis."""

# OIP datatype -> NumPy dtype. BYTES tensors are object arrays of ``bytes``.
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
_NUMPY_NAMES: dict[str, str] = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "object": "BYTES",
    "str": "BYTES",
    "string": "BYTES",
    "bytes": "BYTES",
}


def datatype_of_numpy(name: str) -> str:
    """The OIP datatype of a NumPy dtype name (``float32`` -> ``FP32``)."""
    try:
        return _NUMPY_NAMES[name]
    except KeyError:
        raise InvalidInput(f"dtype {name!r} has no Open Inference Protocol datatype") from None


# Keyed by the dtype itself: ``dtype.name`` is a slow property, and this runs on every request.
_BY_DTYPE: dict[np.dtype[Any], str] = {dtype: name for name, dtype in DATATYPES.items()}


def datatype_of_array(array: npt.NDArray[Any]) -> str:
    """The OIP datatype of an array (strings and bytes are ``BYTES``)."""
    found = _BY_DTYPE.get(array.dtype)
    if found is not None:
        return found
    if array.dtype.kind in "OSU":
        return "BYTES"
    return datatype_of_numpy(array.dtype.name)


def numpy_dtype(datatype: str) -> np.dtype[Any]:
    try:
        return DATATYPES[datatype]
    except KeyError:
        known = ", ".join(DATATYPES)
        raise InvalidInput(f"datatype {datatype!r} is not one of {known}") from None


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor: its OIP datatype and its shape (``-1``: any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def describe(self) -> str:
        dims = ", ".join("-1" if d < 0 else str(d) for d in self.shape)
        return f"{self.name} {self.datatype} [{dims}]"

    def as_metadata(self) -> dict[str, Any]:
        """The tensor as OIP model metadata lists it."""
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class ModelSignature:
    """What a served model takes and gives. ``allow_nan``: float inputs may hold NaN or inf
    (refused by default: a NaN fed to most models yields a confident wrong answer)."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    allow_nan: bool = False

    def describe(self) -> str:
        ins = "; ".join(t.describe() for t in self.inputs)
        outs = "; ".join(t.describe() for t in self.outputs)
        return f"inputs: {ins} -> outputs: {outs}"

    def input(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)


def signature_from_manifest(signature: Mapping[str, Any] | None) -> ModelSignature | None:
    """A package manifest's tensor signature (``{"inputs": {"kind": "tensors", ...}}``) in
    OIP terms; None when the manifest has none or describes columns rather than tensors."""
    if not signature:
        return None
    inputs = signature.get("inputs") or {}
    outputs = signature.get("outputs") or {}
    if inputs.get("kind") != "tensors":
        return None

    def specs(schema: Mapping[str, Any], default: str) -> tuple[TensorSpec, ...]:
        tensors = schema.get("tensors") or ()
        return tuple(
            TensorSpec(
                name=t.get("name") or (default if len(tensors) == 1 else f"{default}{i}"),
                datatype=datatype_of_numpy(str(t["dtype"])),
                shape=tuple(int(d) for d in t["shape"]),
            )
            for i, t in enumerate(tensors)
        )

    return ModelSignature(
        inputs=specs(inputs, "input"),
        outputs=specs(outputs, "output") if outputs.get("kind") == "tensors" else (),
        allow_nan=bool(signature.get("allow_nan", False)),
    )
