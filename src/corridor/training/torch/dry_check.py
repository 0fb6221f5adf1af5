"""The client's check before a training job is submitted: run the factories once, here.

The model factory is called, the data factory's samples are read, and one batch goes forward
and backward through the model with the loss, so a factory that raises, data that is empty or
whose features and labels disagree, a batch the model cannot take, and a signature that does
not match the data are refused before anything is submitted. The same pass measures a step's
compute for ``workers="auto"``. A dataset version is not read here (the job reads it); then
only the model factory is checked.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corridor.errors import InvalidInput
from corridor.training.torch import data as training_data
from corridor.training.torch import parts
from corridor.training.torch.spec import TrainSpec


@dataclass(frozen=True)
class CheckResult:
    """What the dry check learned: gradient bytes and, with data, one step's compute time."""

    grad_bytes: int
    compute_s: float | None
    samples: int | None


def check(spec: TrainSpec, root: Path, signature: Mapping[str, Any] | None) -> CheckResult:
    """Run the factories and one batch; InvalidInput saying what is wrong."""
    model = parts.make_model(spec, root)
    grad_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    if spec.data.ref is None:
        return CheckResult(grad_bytes, None, None)
    factory = parts.load_ref(spec.data.ref, root)
    source = f"the data factory {spec.data.ref}"
    try:
        produced = factory(**spec.data.kwargs)
    except Exception as exc:
        raise InvalidInput(f"{source} raised {type(exc).__name__}: {exc}") from exc
    features, labels = training_data.as_tensors(produced, source)
    if signature is not None:
        _match_signature(signature, features)
    x, y = features[: spec.batch_size], labels[: spec.batch_size]
    loss_fn = parts.make_loss(spec, root)
    try:
        outputs = model(x)
        loss = loss_fn(outputs, y)
        loss.backward()  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise InvalidInput(
            f"a batch of {source} does not fit the model {spec.model}: "
            f"features {tuple(x.shape)} {x.dtype}, labels {tuple(y.shape)} {y.dtype}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if signature is not None:
        _match_outputs(signature, outputs)
    return CheckResult(grad_bytes, _step_seconds(model, loss_fn, x, y, spec.threads), len(features))


def _step_seconds(
    model: torch.nn.Module, loss_fn: parts.LossFn, x: torch.Tensor, y: torch.Tensor, threads: int
) -> float:
    """The best of up to ten forward and backward passes (at most ~0.3 s), with the threads a
    rank will have: the minimum is what a quiet machine gives, whatever else runs here now."""
    saved = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        best = float("inf")
        deadline = time.perf_counter() + 0.3
        for _ in range(10):
            started = time.perf_counter()
            loss_fn(model(x), y).backward()  # type: ignore[no-untyped-call]
            best = min(best, time.perf_counter() - started)
            if started > deadline:
                break
        return best
    finally:
        torch.set_num_threads(saved)


def _tensor_specs(signature: Mapping[str, Any], side: str) -> list[Mapping[str, Any]]:
    schema = signature.get(side)
    if not isinstance(schema, Mapping) or schema.get("kind", "tensors") != "tensors":
        return []
    tensors = schema.get("tensors") or []
    return [t for t in tensors if isinstance(t, Mapping)]


def _fits(shape: tuple[int, ...], declared: list[int]) -> bool:
    return len(shape) == len(declared) and all(
        d in (-1, s) for s, d in zip(shape, declared, strict=True)
    )


def _match_signature(signature: Mapping[str, Any], features: torch.Tensor) -> None:
    specs = _tensor_specs(signature, "inputs")
    if len(specs) != 1:
        return
    declared = [int(d) for d in specs[0].get("shape", [])]
    dtype = str(specs[0].get("dtype", ""))
    actual = str(features.numpy().dtype) if features.dtype != torch.bfloat16 else "bfloat16"
    if not _fits(tuple(features.shape), declared):
        raise InvalidInput(
            f"the signature's input {specs[0].get('name') or 'input'} has shape {declared}, "
            f"but the data's features have shape {list(features.shape)}"
        )
    if dtype and np.dtype(dtype) != np.dtype(actual):
        raise InvalidInput(
            f"the signature's input is {dtype}, but the data's features are {actual}"
        )


def _match_outputs(signature: Mapping[str, Any], outputs: object) -> None:
    specs = _tensor_specs(signature, "outputs")
    if len(specs) != 1 or not isinstance(outputs, torch.Tensor):
        return
    declared = [int(d) for d in specs[0].get("shape", [])]
    if not _fits(tuple(outputs.shape), declared):
        raise InvalidInput(
            f"the signature's output {specs[0].get('name') or 'output'} has shape {declared}, "
            f"but the model gives {list(outputs.shape)}"
        )
