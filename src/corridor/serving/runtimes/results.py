"""What every backend hands back: outputs named as the signature names them, and a model's own
errors turned into `InvalidInput`.

A model returns one array, a tuple or list of arrays (in the signature's output order) or a
mapping by output name; `named_outputs` makes each of these the `Batch` the seam promises,
without copying an array. Inputs reach a backend already checked against the signature, so an
error the model still raises (a width it cannot multiply, a string it cannot parse) is about
the request, not the server: `model_failure` says so with the expected signature, and never
lets a raw NumPy, torch or onnxruntime error out of the seam.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from corridor.errors import CorridorError, InvalidInput
from corridor.serving.tensors import Batch, ModelSignature, TensorSpec, numpy_dtype

# Longest piece of a model's own error message kept in the answer.
_MESSAGE_CHARS = 300


def model_failure(exc: BaseException, signature: ModelSignature) -> CorridorError:
    """The error to raise when a model fails on a batch: a Corridor error as it is, anything
    else as `InvalidInput` naming the signature and the model's reason."""
    if isinstance(exc, CorridorError):
        return exc
    reason = " ".join(str(exc).split())[:_MESSAGE_CHARS] or type(exc).__name__
    return InvalidInput(
        f"the model could not predict on these inputs ({reason}); it expects {signature.describe()}"
    )


def named_outputs(raw: Any, signature: ModelSignature) -> Batch:
    """``raw`` (what the model returned) as ``{output name: array}`` for every output of the
    signature, each in its declared datatype; `InvalidInput` if the model returned something
    else."""
    names = [t.name for t in signature.outputs]
    if isinstance(raw, Mapping):
        missing = [n for n in names if n not in raw]
        if missing:
            raise InvalidInput(
                f"the model returned {sorted(map(str, raw))}, not the outputs its signature "
                f"names ({', '.join(missing)} missing): {signature.describe()}"
            )
        return {t.name: conform(raw[t.name], t) for t in signature.outputs}
    values: Sequence[Any] = raw if isinstance(raw, tuple | list) else (raw,)
    if len(values) != len(names):
        raise InvalidInput(
            f"the model returned {len(values)} output(s) where its signature names "
            f"{len(names)}: {signature.describe()}"
        )
    return {t.name: conform(v, t) for t, v in zip(signature.outputs, values, strict=True)}


def conform(value: Any, spec: TensorSpec) -> npt.NDArray[Any]:
    """``value`` as an array of the output's declared datatype (no copy when it is one
    already; BYTES outputs keep their str, bytes or object arrays)."""
    array = np.asarray(value)
    if spec.datatype == "BYTES":
        return array
    return array.astype(numpy_dtype(spec.datatype), copy=False)
