"""Check a request's tensors against the model's signature before they reach a replica. No I/O.

Invariant: a batch that passes holds exactly the signature's inputs, each of its declared
datatype (the datatype the request declared, which the parser turned into the array's dtype:
no silent widening here), each shape compatible with the signature's (``-1``: any size), all
sharing one batch size along axis 0, and, unless the signature allows it, no NaN or infinity in
a float input. Everything else is `InvalidInput` whose message names the expected signature.

Cost: a few dict and tuple comparisons per input and one vectorised ``np.isfinite(x).all()``
per float input; no copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from corridor.errors import InvalidInput
from corridor.serving.tensors import Batch, ModelSignature, TensorSpec, datatype_of_array


def check_inputs(signature: ModelSignature, inputs: Mapping[str, npt.NDArray[Any]]) -> Batch:
    """The inputs as a batch in the signature's order; `InvalidInput` naming the signature."""
    specs = signature.inputs
    if len(inputs) != len(specs) or any(spec.name not in inputs for spec in specs):
        _refuse_names(signature, inputs)
    batch: Batch = {}
    batch_size: int | None = None
    first = ""
    for spec in specs:
        array = inputs[spec.name]
        _check_tensor(signature, spec, array)
        rows = array.shape[0]
        if batch_size is None:
            batch_size, first = rows, spec.name
        elif rows != batch_size:
            raise InvalidInput(
                f"inputs {first!r} and {spec.name!r} have different batch sizes ({batch_size} "
                f"and {rows}); every input needs the same first dimension. Expected signature: "
                f"{signature.describe()}"
            )
        batch[spec.name] = array
    return batch


def _refuse_names(signature: ModelSignature, inputs: Mapping[str, Any]) -> None:
    expected = {spec.name for spec in signature.inputs}
    missing = [spec.name for spec in signature.inputs if spec.name not in inputs]
    unknown = [name for name in inputs if name not in expected]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(repr(n) for n in missing))
    if unknown:
        problems.append("unknown " + ", ".join(repr(n) for n in unknown))
    raise InvalidInput(
        f"the request's inputs do not match the model ({'; '.join(problems)}). "
        f"Expected signature: {signature.describe()}"
    )


def _check_tensor(signature: ModelSignature, spec: TensorSpec, array: npt.NDArray[Any]) -> None:
    try:
        datatype = datatype_of_array(array)
    except InvalidInput:
        datatype = array.dtype.name
    if datatype != spec.datatype:
        raise InvalidInput(
            f"input {spec.name!r} is {datatype} but the model takes {spec.datatype}; send it as "
            f"{spec.datatype}. Expected signature: {signature.describe()}"
        )
    shape = array.shape
    expected = spec.shape
    if len(shape) != len(expected) or any(
        want >= 0 and got != want for got, want in zip(shape, expected, strict=True)
    ):
        got = "[" + ", ".join(str(d) for d in shape) + "]"
        raise InvalidInput(
            f"input {spec.name!r} has shape {got} but the model takes {spec.describe()} "
            f"(-1: any size). Expected signature: {signature.describe()}"
        )
    if not len(shape):
        raise InvalidInput(
            f"input {spec.name!r} needs a batch dimension. Expected signature: "
            f"{signature.describe()}"
        )
    if array.dtype.kind == "f" and not signature.allow_nan and not np.isfinite(array).all():
        raise InvalidInput(
            f"input {spec.name!r} holds NaN or infinite values and the model's signature "
            "forbids them; send finite numbers"
        )
