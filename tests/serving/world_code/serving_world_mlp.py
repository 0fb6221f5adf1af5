"""The test world's MLP (64 -> 256 -> 256 -> 10, the shape of examples/mlp.py): its factory,
stored in the model's package as its code."""

from __future__ import annotations

from torch import nn


def make_model(features: int = 64, hidden: int = 256, classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Linear(features, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, classes),
    )
