"""The training benchmarks' one workload: the benchmark MLP, its generated data and the
hand-written PyTorch loop every other side is compared with.

The MLP is 64 -> 256 -> 256 -> 10 (ReLU), trained with cross-entropy and SGD at batch 64 on
generated data (a fixed seed: every side sees the same tensors). The data sits in memory as two
tensors, so the figures are the training loop's, not a data loader's.
"""

from __future__ import annotations

import os
import platform
import time

import psutil
import torch
from torch import nn

BATCH = 64
FEATURES = 64
CLASSES = 10
LEARNING_RATE = 0.05
SEED = 7


def make_mlp() -> nn.Module:
    """The benchmark MLP: 64 -> 256 -> 256 -> 10."""
    return nn.Sequential(
        nn.Linear(FEATURES, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, CLASSES),
    )


def make_data(samples: int, seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """``samples`` generated rows: features from a normal and labels from a fixed linear rule,
    so that the loss falls and the run is a real fit rather than noise."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, FEATURES, generator=generator)
    rule = torch.randn(FEATURES, CLASSES, generator=generator)
    y = (x @ rule).argmax(dim=1)
    return x, y


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)


def hand_loop(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch: int = BATCH,
    *,
    shuffle: bool = False,
) -> float:
    """Train one pass over ``x, y`` the way one writes it by hand; the seconds it took.

    ``shuffle``: a new order each pass, batches gathered by index (what a ``DataLoader`` with
    ``shuffle=True`` does over tensors, and what the trainer does); else in stored order."""
    optimizer = make_optimizer(model)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    started = time.perf_counter()
    if shuffle:
        order = torch.randperm(len(x))
        x, y = x[order], y[order]
    for xb, yb in zip(torch.split(x, batch), torch.split(y, batch), strict=True):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def machine() -> str:
    """One line naming the machine and the load it was under, for the printed tables."""
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
