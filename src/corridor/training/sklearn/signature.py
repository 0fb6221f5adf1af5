"""A package signature read from the data a model was fitted on and what it predicts.

A DataFrame gives columns (names and types); an array gives one tensor named ``input`` with its
dtype and its shape, the first dimension any size (-1). Predictions give one tensor named
``prediction``. An ONNX model's signature is read from its graph instead: the names, element
types and shapes of its inputs and outputs, -1 where a dimension is not fixed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from corridor.registry.manifest import (
    ColumnSchema,
    ColumnSpec,
    ColumnType,
    Signature,
    TensorSchema,
    TensorSpec,
)

_COLUMN_TYPES: dict[str, ColumnType] = {
    "b": "boolean",
    "f": "double",
    "M": "datetime",
    "O": "string",
    "U": "string",
    "S": "binary",
}


def dtype_name(dtype: np.dtype[Any]) -> str:
    """A numpy dtype as a signature names it (``float32``; text is ``str``, objects ``object``)."""
    if dtype.kind in ("U", "S", "O"):
        return {"U": "str", "S": "bytes", "O": "object"}[dtype.kind]
    return dtype.name


def _column_type(dtype: Any) -> ColumnType:
    kind = np.dtype(dtype).kind if not hasattr(dtype, "kind") else dtype.kind
    if kind in ("i", "u"):
        return "long" if np.dtype(dtype).itemsize >= 8 else "integer"
    if kind == "f":
        return "float" if np.dtype(dtype).itemsize <= 4 else "double"
    return _COLUMN_TYPES.get(kind, "string")


def _tensor(name: str, values: Any) -> TensorSpec:
    array = np.asarray(values)
    return TensorSpec(name=name, dtype=dtype_name(array.dtype), shape=(-1, *array.shape[1:]))


def _inputs(x: Any) -> ColumnSchema | TensorSchema:
    columns = getattr(x, "columns", None)
    dtypes = getattr(x, "dtypes", None)
    if columns is not None and dtypes is not None:
        return ColumnSchema(
            columns=tuple(
                ColumnSpec(name=str(c), type=_column_type(t))
                for c, t in zip(columns, dtypes, strict=True)
            )
        )
    return TensorSchema(tensors=(_tensor("input", x),))


def infer_signature(estimator: Any, x: Any) -> Signature:
    """The inputs the features ``x`` give and the output the fitted ``estimator`` predicts
    from them."""
    sample = x[:5] if not hasattr(x, "iloc") else x.iloc[:5]
    predicted = estimator.predict(sample)
    return Signature(
        inputs=_inputs(x), outputs=TensorSchema(tensors=(_tensor("prediction", predicted),))
    )


def onnx_signature(model: Any) -> Signature:
    """The signature of an ``onnx.ModelProto``'s graph."""
    from onnx import helper

    def specs(values: Any) -> tuple[TensorSpec, ...]:
        found = []
        for value in values:
            tensor_type = value.type.tensor_type
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
            shape = tuple(
                d.dim_value if d.HasField("dim_value") else -1 for d in tensor_type.shape.dim
            )
            found.append(TensorSpec(name=value.name, dtype=dtype_name(dtype), shape=shape))
        return tuple(found)

    return Signature(
        inputs=TensorSchema(tensors=specs(model.graph.input)),
        outputs=TensorSchema(tensors=specs(model.graph.output)),
    )
