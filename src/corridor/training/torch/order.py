"""Which samples each step of each rank sees. Pure: plain integers in, index tensors out.

The order of an epoch depends only on ``(seed, epoch)``, so a resumed attempt replays it
exactly and skips the steps already done. Each global batch of ``batch_size`` samples is cut
into ``world_size`` near-equal parts, one per rank, and each rank's mean loss is weighted by its
share (``part * world_size / batch``): DDP's average of the ranks' gradients is then the
gradient of the global batch's mean loss, as one process computes it. A last batch smaller
than the world size is dropped, so no rank gets an empty part.
"""

from __future__ import annotations

import torch

# Mixes the epoch into the seed so that consecutive epochs' orders are unrelated.
_EPOCH_STRIDE = 1_000_003


def steps_per_epoch(samples: int, batch_size: int, world_size: int) -> int:
    """Global steps in one epoch of ``samples``."""
    full, rest = divmod(samples, batch_size)
    return full + (1 if rest >= world_size else 0)


def epoch_order(samples: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of sample indices for ``epoch`` (0-based)."""
    generator = torch.Generator().manual_seed(seed * _EPOCH_STRIDE + epoch)
    return torch.randperm(samples, generator=generator)


def rank_part(
    order: torch.Tensor, step: int, batch_size: int, rank: int, world_size: int
) -> tuple[torch.Tensor, float]:
    """The indices rank ``rank`` takes at ``step`` of the epoch, and its loss weight."""
    batch = order[step * batch_size : (step + 1) * batch_size]
    part = torch.tensor_split(batch, world_size)[rank]
    return part, len(part) * world_size / len(batch)


def step_seed(seed: int, rank: int, global_step: int) -> int:
    """The RNG seed one rank takes at ``global_step`` (for dropout and the like)."""
    return (seed * 1_000_033 + global_step * 131 + rank) % (2**63)
