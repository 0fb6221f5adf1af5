"""Load an ``onnx`` package: the entry file (``model.onnx``) in an onnxruntime session. Client only.

The session runs on the CPU provider only and registers no custom operator libraries, so the
graph runs onnxruntime's own kernels and nothing from the package. ``onnxruntime`` is an
optional dependency (the ``training`` extra) and is imported when such a package is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from corridor.errors import InvalidInput
from corridor.registry.manifest import Manifest

# onnxruntime's tensor type names and the NumPy dtypes inputs are converted to.
_DTYPES: dict[str, npt.DTypeLike] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.str_,
}


class OnnxModel:
    """``predict(array)`` for a graph with one input, ``predict({name: array})`` for any.

    Inputs are converted to the dtype each graph input declares (float64 rows become float32
    for a ``tensor(float)`` input). One output comes back as its array; several as a dict of
    arrays by output name.
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.inputs: dict[str, str] = {i.name: i.type for i in session.get_inputs()}
        self.outputs: list[str] = [o.name for o in session.get_outputs()]

    def _feed(self, inputs: Any) -> dict[str, npt.NDArray[Any]]:
        if isinstance(inputs, Mapping):
            given = {str(k): v for k, v in inputs.items()}
            if set(given) != set(self.inputs):
                raise InvalidInput(
                    f"the model's inputs are {sorted(self.inputs)}, not {sorted(given)}"
                )
        elif len(self.inputs) == 1:
            given = {next(iter(self.inputs)): inputs}
        else:
            raise InvalidInput(
                f"the model has {len(self.inputs)} inputs: pass a dict {{name: array}} with "
                f"{sorted(self.inputs)}"
            )
        return {
            name: np.asarray(value, dtype=_DTYPES.get(self.inputs[name]))
            for name, value in given.items()
        }

    def predict(self, inputs: Any) -> Any:
        results = self.session.run(None, self._feed(inputs))
        if len(results) == 1:
            return results[0]
        return dict(zip(self.outputs, results, strict=True))


def load_onnx(path: Path, manifest: Manifest) -> OnnxModel:
    """An onnxruntime session (CPU) over the package's entry file."""
    import onnxruntime  # type: ignore[import-untyped]

    if manifest.entry is None:
        raise InvalidInput("an onnx package needs its entry file (model.onnx) in the manifest")
    try:
        session = onnxruntime.InferenceSession(
            str(path / manifest.entry), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors for a bad graph
        raise InvalidInput(
            f"{manifest.entry} is not an ONNX model onnxruntime can run: {exc}"
        ) from None
    return OnnxModel(session)
