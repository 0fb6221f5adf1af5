"""The PyTorch trainer: ``Trainer(model=..., data=...).fit()`` trains as a compute job.

See docs/training.md. ``job`` is what runs on the workers; ``trainer`` and ``result`` are the
client's side, imported lazily so that a worker's job does not load the HTTP client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corridor.training.torch.result import TrainResult
    from corridor.training.torch.trainer import Trainer

__all__ = ["TrainResult", "Trainer"]


def __getattr__(name: str) -> Any:
    if name == "Trainer":
        from corridor.training.torch.trainer import Trainer

        return Trainer
    if name == "TrainResult":
        from corridor.training.torch.result import TrainResult

        return TrainResult
    raise AttributeError(f"module 'corridor.training.torch' has no attribute {name!r}")
