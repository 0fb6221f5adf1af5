"""The training spec: what a trainer job runs, as plain JSON. No I/O, no torch.

The client builds it from ``Trainer``'s arguments and sends it as the job's one argument; the
job reads it back. Factories, custom losses and optimisers are named by reference
(``module:qualname``), imported on the worker from the job's code snapshot, never pickled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from corridor.errors import InvalidInput

LOSSES = ("cross_entropy", "mse", "l1", "smooth_l1", "huber", "nll", "bce_with_logits")
OPTIMIZERS = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("32", "bf16", "16-mixed")
Precision = Literal["32", "bf16", "16-mixed"]
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_DATASET = re.compile(r"^[^:@\s]+@[^:@\s]+$")


def is_reference(text: str) -> bool:
    """Whether ``text`` names a function as ``module:qualname``."""
    return bool(_REF.match(text))


def is_dataset_ref(text: str) -> bool:
    """Whether ``text`` names a dataset version (``tickets@2``, ``tickets@latest``)."""
    return bool(_DATASET.match(text))


@dataclass(frozen=True)
class DataSpec:
    """A data factory (``ref`` + ``kwargs``) or a dataset version (``dataset`` + columns)."""

    ref: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    features: list[str] | None = None
    label: str | None = None


@dataclass(frozen=True)
class TrainSpec:
    """Everything one training job needs besides its code; JSON both ways."""

    model: str
    data: DataSpec
    loss: str = "cross_entropy"
    optimizer: str = "adam"
    optimizer_kwargs: dict[str, Any] = field(default_factory=lambda: {"lr": 1e-3})
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 1
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    precision: str = "32"
    checkpoint_every: int = 100
    # Inside an epoch, a checkpoint due by ``checkpoint_every`` is written only if this long
    # has passed since the last one (0: every time): a fast model's steps are far shorter
    # than storing its state.
    checkpoint_interval_s: float = 30.0
    log_every: int = 10
    # CPU threads per rank (torch.set_num_threads); 0 leaves torch's default.
    threads: int = 0
    workers_reason: str = ""

    def __post_init__(self) -> None:
        if not is_reference(self.model):
            raise InvalidInput(f"model {self.model!r} is not a factory reference (module:name)")
        if self.loss not in LOSSES and not is_reference(self.loss):
            raise InvalidInput(
                f"unknown loss {self.loss!r}; use one of {', '.join(LOSSES)} or 'module:function'"
            )
        if self.optimizer not in OPTIMIZERS and not is_reference(self.optimizer):
            raise InvalidInput(
                f"unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)} "
                "or 'module:function' (called with the parameters and its keyword arguments)"
            )
        for name in ("epochs", "batch_size", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{name} must be a whole number of at least 1, not {value!r}")
        interval = self.checkpoint_interval_s
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not (0 <= interval < 10**9)
        ):
            raise InvalidInput(
                f"checkpoint_interval_s must be a number of seconds, 0 or more, not {interval!r}"
            )
        if self.device not in DEVICES:
            raise InvalidInput(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.precision not in PRECISIONS:
            raise InvalidInput(
                f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}"
            )
        data = self.data
        if (data.ref is None) == (data.dataset is None):
            raise InvalidInput("data is a factory reference or a dataset version, one of them")
        if data.dataset is not None and not data.label:
            raise InvalidInput(f"training on dataset {data.dataset} needs label= (a column name)")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: object) -> TrainSpec:
        if not isinstance(value, dict) or not isinstance(value.get("data"), dict):
            raise InvalidInput("a training spec is a JSON object with model and data")
        fields = dict(value)
        try:
            fields["data"] = DataSpec(**fields["data"])
            return cls(**fields)
        except TypeError as exc:
            raise InvalidInput(f"bad training spec: {exc}") from None


def signature_json(signature: object) -> dict[str, Any] | None:
    """A registry ``Signature`` (or its JSON object) as a JSON object; None stays None."""
    if signature is None:
        return None
    dump = getattr(signature, "model_dump", None)
    value = dump(mode="json") if callable(dump) else signature
    if not isinstance(value, Mapping):
        raise InvalidInput("signature must be a registry Signature or its JSON object")
    return dict(value)
