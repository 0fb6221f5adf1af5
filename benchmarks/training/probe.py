"""Factories that note, in a training job's rank 0, when each stage of its start happened.

``probed_data`` and ``probed_mlp`` are the workload's data and model factories plus one line
each of JSON in ``out`` (the wall clock, one clock on one machine): when the job called the
data factory (its interpreter up and the trainer's job imported), when it called the model
factory (the data made and, with several ranks, the process group up), and when the model's
first and second forward passes began (the second: step 0 done). The client's dry check calls
the same factories; it runs outside a job and notes nothing.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import torch
import workload
from torch import nn


def _note(out: str, stage: str) -> None:
    if not os.environ.get("CORRIDOR_JOB_ID") or os.environ.get("RANK", "0") != "0":
        return
    with open(out, "a") as file:
        file.write(json.dumps({"stage": stage, "at": time.time()}) + "\n")


def probed_data(samples: int, out: str) -> tuple[torch.Tensor, torch.Tensor]:
    _note(out, "data_factory")
    return workload.make_data(samples)


def probed_mlp(out: str) -> nn.Module:
    _note(out, "model_factory")
    model = workload.make_mlp()
    calls = 0

    def before_forward(module: nn.Module, args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            _note(out, f"forward_{calls}")

    model.register_forward_pre_hook(before_forward)
    return model


def read(out: str) -> dict[str, float]:
    """The stages noted in ``out``, by name."""
    with open(out) as file:
        return {n["stage"]: n["at"] for n in map(json.loads, file)}
