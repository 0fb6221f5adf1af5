"""A training checkpoint as bytes: one safetensors file holding the model's weights and the
optimiser's tensors, with the rest (epoch, step, optimiser scalars and groups, the grad
scaler's state) as JSON in its metadata. Nothing in it is pickled, so a checkpoint read back
cannot run code.

Tensor names: ``model.<state_dict key>`` and ``optim.<param index>.<state key>``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from corridor.errors import InvalidInput

FORMAT = 1
_META_KEY = "corridor.checkpoint"


@dataclass
class TrainingState:
    """Where training stands: the next step to run is ``step_in_epoch`` of ``epoch``."""

    epoch: int
    step_in_epoch: int
    global_step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scaler: dict[str, Any] | None = None
    epoch_loss_sum: float = 0.0
    epoch_samples: int = 0


def encode(state: TrainingState) -> bytes:
    """The checkpoint bytes of ``state`` (tensors copied to the CPU)."""
    tensors: dict[str, torch.Tensor] = {
        f"model.{k}": v.detach().to("cpu").contiguous().clone() for k, v in state.model.items()
    }
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in state.optimizer.get("state", {}).items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value.detach().to("cpu").contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[key] = value
    meta = {
        "format": FORMAT,
        "epoch": state.epoch,
        "step_in_epoch": state.step_in_epoch,
        "global_step": state.global_step,
        "param_groups": state.optimizer.get("param_groups", []),
        "optimizer_scalars": scalars,
        "scaler": state.scaler,
        "epoch_loss_sum": state.epoch_loss_sum,
        "epoch_samples": state.epoch_samples,
    }
    return save_tensors(tensors, metadata={_META_KEY: json.dumps(meta)})


def decode(data: bytes) -> TrainingState:
    """The state a checkpoint holds; InvalidInput if the bytes are not one."""
    meta = _metadata(data)
    tensors = load_tensors(data)
    model = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    per_param: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            index, key = name.removeprefix("optim.").split(".", 1)
            per_param.setdefault(int(index), {})[key] = value
    for index, values in meta["optimizer_scalars"].items():
        per_param.setdefault(int(index), {}).update(values)
    return TrainingState(
        epoch=int(meta["epoch"]),
        step_in_epoch=int(meta["step_in_epoch"]),
        global_step=int(meta["global_step"]),
        model=model,
        optimizer={"state": per_param, "param_groups": meta["param_groups"]},
        scaler=meta.get("scaler"),
        epoch_loss_sum=float(meta.get("epoch_loss_sum", 0.0)),
        epoch_samples=int(meta.get("epoch_samples", 0)),
    )


def _metadata(data: bytes) -> dict[str, Any]:
    """The JSON in a safetensors header's metadata (8-byte length, then the header)."""
    try:
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + length])
        meta = json.loads(header["__metadata__"][_META_KEY])
    except (struct.error, ValueError, KeyError, TypeError):
        raise InvalidInput("the stored checkpoint is not a Corridor training checkpoint") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InvalidInput("the stored checkpoint has a format this trainer does not read")
    return meta
