"""Serve a ``torch`` package: the registry's loader rebuilds the module from the package's own
code and loads its safetensors weights (nothing is unpickled); this backend predicts batches.

Hot path, per batch: each input array becomes a tensor with ``torch.from_numpy`` (no copy; a
read-only array, as a binary request body gives, is copied first, since torch may not share
memory it cannot write), the module runs under ``torch.inference_mode`` (no autograd records),
and each output tensor becomes an array with ``.numpy()`` (no copy). A single-input model gets
its tensor positionally, a multi-input one by keyword, as the registry's predictor does.

Threads: ``RuntimeOptions.threads`` sets ``torch.set_num_threads``, which is global to the
process (torch has one intra-op pool), so the last model loaded with a value sets it for all.
Without a value torch keeps its default (one thread per physical core). For a small model give
1: on the 64->256->256->10 MLP a batch of 1 costs the same on one thread or two (torch does not
split so small a product), a batch of 32 gains a fifth from a second thread, and on a busy
machine the pool's threads wait for each other (a p99 of tens of milliseconds, against a
quarter of one on one thread). Large models (the embedder) gain from the pool.

Small batches run on one intra-op thread whatever the pool's size: a batch whose rows times the
module's parameters stay under ``SMALL_WORK`` (and whose inputs hold under ``SMALL_ELEMENTS``
numbers) is computed with the calling thread's count set to 1 for the call and set back after
(two calls of 0.1 us; OpenMP keeps the count per thread, so the model's other threads and other
models' batches keep theirs). Torch barely splits so small a product, and on a busy machine the
pool's threads spin waiting for each other: a 16-row batch of the MLP costs 66 us of CPU on one
thread against 160 us to 3 ms on two, which also kept an in-process replica off the event loop.

``RuntimeOptions.device`` moves the module to that device (``"cuda"``); each batch is then
copied there and its outputs back, and the rest is as above.

The signature is the manifest's tensor signature; a model registered without its outputs gets
them by running it once on a batch of one row of zeros.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from corridor.errors import InvalidInput
from corridor.registry.manifest import Manifest
from corridor.registry.torch_loader import load_torch
from corridor.serving.runtimes.base import ModelKind, RuntimeOptions
from corridor.serving.runtimes.model_signatures import declared_signature
from corridor.serving.runtimes.results import model_failure, named_outputs
from corridor.serving.tensors import (
    Batch,
    ModelSignature,
    TensorSpec,
    datatype_of_array,
    numpy_dtype,
)

# Rows x parameters under which a CPU batch runs on one thread (the MLP: about 48 rows).
SMALL_WORK = 1 << 22
SMALL_ELEMENTS = 1 << 16


class TorchModel:
    """A torch module serving batches of named arrays."""

    kind: ModelKind = "tensors"

    def __init__(self, module: Any, signature: ModelSignature, device: Any = None) -> None:
        import torch

        self._torch = torch
        self.module = module
        self.signature = signature
        self._names = tuple(t.name for t in signature.inputs)
        self._device = None if device is None or device.type == "cpu" else device
        self._parameters = sum(int(p.numel()) for p in module.parameters())
        # The intra-op threads a large batch gets; 1 means no batch needs switching.
        self._threads = torch.get_num_threads() if self._device is None else 1

    def _tensor(self, array: npt.NDArray[Any]) -> Any:
        if not array.flags.writeable:
            array = array.copy()
        tensor = self._torch.from_numpy(array)
        return tensor if self._device is None else tensor.to(self._device)

    def _call(self, inputs: Batch) -> Any:
        with self._torch.inference_mode():
            if len(self._names) == 1:
                output = self.module(self._tensor(inputs[self._names[0]]))
            else:
                output = self.module(**{n: self._tensor(inputs[n]) for n in self._names})
        return _numpy(output, self._torch)

    def _small(self, inputs: Batch) -> bool:
        first = inputs[self._names[0]]
        rows = first.shape[0] if first.ndim else 1
        return (
            rows * self._parameters < SMALL_WORK
            and sum(a.size for a in inputs.values()) < SMALL_ELEMENTS
        )

    def predict(self, inputs: Batch) -> Batch:
        try:
            if self._threads > 1 and self._small(inputs):
                set_threads = self._torch.set_num_threads
                set_threads(1)
                try:
                    outputs = self._call(inputs)
                finally:
                    set_threads(self._threads)
            else:
                outputs = self._call(inputs)
            return named_outputs(outputs, self.signature)
        except Exception as exc:
            raise model_failure(exc, self.signature) from None


def torch_device(name: str) -> Any:
    """The torch device ``name`` names; `InvalidInput` if torch knows no such device here."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise InvalidInput(f"{name!r} is not a torch device: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput(f"device {name!r} asked for, but torch sees no CUDA device here")
    return device


def _numpy(output: Any, torch: Any) -> Any:
    if isinstance(output, torch.Tensor):
        return output.numpy(force=True)
    if isinstance(output, Mapping):
        return {k: _numpy(v, torch) for k, v in output.items()}
    if isinstance(output, tuple | list):
        return tuple(_numpy(v, torch) for v in output)
    return output


def _probe_outputs(model: TorchModel) -> tuple[TensorSpec, ...]:
    """The outputs of the model, seen by running it on one row of zeros."""
    inputs = {}
    for spec in model.signature.inputs:
        if any(d < 0 for d in spec.shape[1:]):
            raise InvalidInput(
                f"the torch package's signature names no outputs and input {spec.describe()} "
                "has a free dimension; register the model with its output tensors"
            )
        inputs[spec.name] = np.zeros((1, *spec.shape[1:]), dtype=numpy_dtype(spec.datatype))
    raw = model._call(inputs)
    if isinstance(raw, Mapping):
        named = [(str(k), np.asarray(v)) for k, v in raw.items()]
    else:
        values = raw if isinstance(raw, tuple) else (raw,)
        names = ["output"] if len(values) == 1 else [f"output{i}" for i in range(len(values))]
        named = list(zip(names, map(np.asarray, values), strict=True))
    return tuple(TensorSpec(name, datatype_of_array(a), (-1, *a.shape[1:])) for name, a in named)


def load(path: Path, manifest: Manifest, options: RuntimeOptions = RuntimeOptions()) -> TorchModel:
    """Load the verified ``torch`` package at ``path``."""
    import torch

    signature = declared_signature(manifest)
    if signature is None or not signature.inputs:
        raise InvalidInput(
            "a torch package is served only with a tensor signature (its inputs' names, "
            "dtypes and shapes): register the model with one"
        )
    if options.threads is not None:
        torch.set_num_threads(max(1, options.threads))
    device = torch_device(options.device)
    module = load_torch(path, manifest).model.to(device)
    model = TorchModel(module, signature, device)
    if not signature.outputs:
        try:
            outputs = _probe_outputs(model)
        except InvalidInput:
            raise
        except Exception as exc:
            raise model_failure(exc, signature) from None
        model.signature = ModelSignature(signature.inputs, outputs, signature.allow_nan)
    return model
