"""Small models and data for the trainer tests: a few milliseconds of CPU per step."""

from __future__ import annotations

import os
import signal

import torch
import torch.nn.functional as functional

_calls = 0


def make_mlp(inputs: int = 8, hidden: int = 16, outputs: int = 3) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, outputs)
    )


def make_data(n: int = 64, seed: int = 1, width: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, width, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return x, y


def make_samples(n: int = 64) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The same data as make_data, as a list of (x, y) samples."""
    x, y = make_data(n)
    return [(x[i], y[i]) for i in range(n)]


def make_nothing() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return []


def make_ragged() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = make_data(10)
    return x, y[:9]


def make_broken_model() -> torch.nn.Module:
    raise ValueError("no weights for you")


def dying_loss(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross entropy, except that the first attempt's process kills itself (SIGKILL, as the
    kernel's OOM killer or a lost machine would) at the step TRAIN_KILL_AT names."""
    global _calls
    _calls += 1
    if os.environ.get("CORRIDOR_JOB_ATTEMPT") == "1" and _calls == int(
        os.environ.get("TRAIN_KILL_AT", "0")
    ):
        os.kill(os.getpid(), signal.SIGKILL)
    return functional.cross_entropy(outputs, labels)
