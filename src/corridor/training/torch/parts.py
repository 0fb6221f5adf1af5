"""The pieces a spec names, made real: factories by reference, the loss, the optimiser, the
device. Used by the job and by the client's dry check alike, so both fail the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as functional

from corridor.compute.function_ref import FunctionRef, resolve
from corridor.errors import InvalidInput
from corridor.training.torch.spec import OPTIMIZERS, TrainSpec, is_reference

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_LOSSES: dict[str, LossFn] = {
    "cross_entropy": functional.cross_entropy,
    "mse": functional.mse_loss,
    "l1": functional.l1_loss,
    "smooth_l1": functional.smooth_l1_loss,
    "huber": functional.huber_loss,
    "nll": functional.nll_loss,
    "bce_with_logits": functional.binary_cross_entropy_with_logits,
}


def load_ref(text: str, workdir: Path) -> Callable[..., Any]:
    """The function ``module:qualname`` names, imported with ``workdir`` first on sys.path."""
    module, _, qualname = text.partition(":")
    return resolve(FunctionRef(module, qualname, "snapshot"), workdir)


def make_model(spec: TrainSpec, workdir: Path) -> torch.nn.Module:
    """Call the model factory; InvalidInput naming it if it raises or returns no Module."""
    factory = load_ref(spec.model, workdir)
    try:
        model = factory(**spec.model_kwargs)
    except Exception as exc:
        raise InvalidInput(
            f"the model factory {spec.model} raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(model, torch.nn.Module):
        raise InvalidInput(
            f"the model factory {spec.model} returned a {type(model).__name__}, "
            "not a torch.nn.Module"
        )
    return model


def make_loss(spec: TrainSpec, workdir: Path) -> LossFn:
    if is_reference(spec.loss):
        return cast(LossFn, load_ref(spec.loss, workdir))
    return _LOSSES[spec.loss]


def make_optimizer(
    spec: TrainSpec, params: Iterable[torch.nn.Parameter], workdir: Path
) -> torch.optim.Optimizer:
    """The optimiser by name (``torch.optim``) or a ``module:function(params, **kwargs)``."""
    if is_reference(spec.optimizer):
        built = load_ref(spec.optimizer, workdir)(params, **spec.optimizer_kwargs)
    else:
        cls = getattr(torch.optim, OPTIMIZERS[spec.optimizer])
        try:
            built = cls(params, **spec.optimizer_kwargs)
        except TypeError as exc:
            raise InvalidInput(f"optimizer {spec.optimizer}: {exc}") from None
    if not isinstance(built, torch.optim.Optimizer):
        raise InvalidInput(f"optimizer {spec.optimizer} gave a {type(built).__name__}")
    return built


def pick_device(requested: str, local_rank: int) -> torch.device:
    """``auto``: the GPU when one is visible, else the CPU; a rank takes its local GPU."""
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise InvalidInput("device='cuda' was asked for, but this worker sees no GPU")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; None: full float32."""
    if device.type != "cuda" or precision == "32":
        return None
    return torch.bfloat16 if precision == "bf16" else torch.float16
