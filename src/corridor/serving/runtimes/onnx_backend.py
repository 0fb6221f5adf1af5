"""Serve an ``onnx`` package with onnxruntime on the CPU, as the registry's loader runs it: the
CPU provider only and no custom operator libraries, so the graph runs onnxruntime's own kernels
and nothing from the package.

The session is made here rather than by `corridor.registry.onnx_loader` because serving sets
its options: ``RuntimeOptions.threads`` is the intra-op thread count (None: onnxruntime's
default, one per physical core), inter-op parallelism is off (one graph runs at a time per
replica; the batcher gives it whole batches) and every graph optimisation is on.

Hot path, per batch: one ``session.run`` over the tensor outputs, inputs passed as they are
when their dtype is the graph's (``np.asarray`` with the same dtype copies nothing). Outputs
that are not tensors (a ZipMap's list of dicts, as skl2onnx writes for a classifier unless told
``zipmap=False``) are not served and not computed. The signature is the manifest's if it has a
tensor one, else the graph's: names, element types, -1 where a dimension is not fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from corridor.errors import InvalidInput
from corridor.registry.manifest import Manifest
from corridor.serving.runtimes.base import ModelKind, RuntimeOptions
from corridor.serving.runtimes.model_signatures import declared_signature, kind_of
from corridor.serving.runtimes.results import model_failure, named_outputs
from corridor.serving.tensors import Batch, ModelSignature, TensorSpec, numpy_dtype

# onnxruntime's tensor types in the Open Inference Protocol's datatypes.
ORT_DATATYPES: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def _spec(arg: Any) -> TensorSpec | None:
    datatype = ORT_DATATYPES.get(arg.type)
    if datatype is None:
        return None
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or ()))
    return TensorSpec(arg.name, datatype, shape)


class OnnxModel:
    """An onnxruntime session serving batches of named arrays (an embeddings model if its
    signature maps texts to vectors)."""

    def __init__(self, session: Any, signature: ModelSignature) -> None:
        self.session = session
        self.signature = signature
        self.kind: ModelKind = kind_of(signature)
        graph_types = {i.name: i.type for i in session.get_inputs()}
        self._feeds = tuple((t.name, _feed_dtype(graph_types[t.name])) for t in signature.inputs)
        self._outputs = [t.name for t in signature.outputs]

    def predict(self, inputs: Batch) -> Batch:
        try:
            feed = {
                name: _strings(inputs[name]) if dtype is None else np.asarray(inputs[name], dtype)
                for name, dtype in self._feeds
            }
            results = self.session.run(self._outputs, feed)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise model_failure(exc, self.signature) from None
        return named_outputs(results, self.signature)


def _feed_dtype(ort_type: str) -> np.dtype[Any] | None:
    """The dtype a graph input takes; None for strings (passed as objects)."""
    datatype = ORT_DATATYPES.get(ort_type)
    return None if datatype in (None, "BYTES") else numpy_dtype(datatype)


def _strings(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A BYTES tensor (bytes objects) as the str array a string graph input takes."""
    if array.dtype.kind == "O":
        texts = [v.decode() if isinstance(v, bytes) else v for v in array.ravel()]
        return np.array(texts, dtype=object).reshape(array.shape)
    return array


def _graph_signature(session: Any) -> ModelSignature:
    inputs = [_spec(i) for i in session.get_inputs()]
    if any(s is None for s in inputs):
        raise InvalidInput("the ONNX graph has an input that is not a tensor; it cannot be served")
    outputs = tuple(s for s in map(_spec, session.get_outputs()) if s is not None)
    if not outputs:
        raise InvalidInput(
            "the ONNX graph has no tensor output (a classifier converted with a ZipMap returns "
            "dicts): convert it with options={'zipmap': False}"
        )
    return ModelSignature(tuple(s for s in inputs if s is not None), outputs)


def load(path: Path, manifest: Manifest, options: RuntimeOptions = RuntimeOptions()) -> OnnxModel:
    """Load the verified ``onnx`` package at ``path`` into an onnxruntime session."""
    import onnxruntime  # type: ignore[import-untyped]

    if manifest.entry is None:
        raise InvalidInput("an onnx package needs its entry file (model.onnx) in the manifest")
    session_options = onnxruntime.SessionOptions()
    session_options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session_options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    session_options.inter_op_num_threads = 1
    if options.threads is not None:
        session_options.intra_op_num_threads = max(1, options.threads)
    try:
        session = onnxruntime.InferenceSession(
            str(path / manifest.entry),
            sess_options=session_options,
            providers=["CPUExecutionProvider"],
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors for a bad graph
        raise InvalidInput(
            f"{manifest.entry} is not an ONNX model onnxruntime can run: {exc}"
        ) from None
    graph = _graph_signature(session)
    declared = declared_signature(manifest)
    if declared is None:
        return OnnxModel(session, graph)
    if not declared.outputs:
        declared = ModelSignature(declared.inputs, graph.outputs, declared.allow_nan)
    known = {t.name for t in graph.outputs}
    unknown = [t.name for t in declared.outputs if t.name not in known]
    if unknown or {t.name for t in declared.inputs} != {t.name for t in graph.inputs}:
        raise InvalidInput(
            f"the package's signature ({declared.describe()}) does not name the graph's tensors "
            f"({graph.describe()})"
        )
    return OnnxModel(session, declared)
