"""The ticket router's head: one linear layer from a ticket's embedding to a score per category.

It lives in a module of its own so that the training job's workers import only this and torch.
"""

from __future__ import annotations

import torch


def make_head(classes: list[str], dimension: int = 384) -> torch.nn.Module:
    """Scores (logits) for each of ``classes`` from an embedding of ``dimension`` values."""
    return torch.nn.Linear(dimension, len(classes))
