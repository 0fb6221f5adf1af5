"""The benchmark MLP: the architecture of ``examples/mlp.py`` (64 -> 256 -> 256 -> 10, ReLU).

Only torch is imported here: Corridor's torch package stores this file as the model's code, and
the Ray Serve peer and the raw loop build the same module from it. No training is needed for a
serving benchmark; the weights come from a fixed seed, so every side computes the same numbers.
"""

from __future__ import annotations

import torch
from torch import nn

FEATURES = 64
HIDDEN = 256
CLASSES = 10
SEED = 0


def make_model(hidden: int = HIDDEN) -> nn.Module:
    """The model: 64 -> 256 -> 256 -> 10 with ReLU (as ``examples/mlp.py``'s ``make_model``)."""
    return nn.Sequential(
        nn.Linear(FEATURES, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, CLASSES),
    )


def seeded_model() -> nn.Module:
    """The model with the benchmark's fixed weights, in inference mode."""
    torch.manual_seed(SEED)
    return make_model().eval()
