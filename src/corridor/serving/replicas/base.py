"""The replica seam: one running copy of a model version, wherever it runs.

A replica takes whole batches (the batcher in front of it gathers requests); it counts the
batches it has accepted and not answered (``outstanding``), which the balancer reads. A replica
whose process or actor died raises `ReplicaCrashed` from ``infer``, so the pool can retry the
batch on another replica and restart this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from corridor.errors import CorridorError, Unavailable
from corridor.serving.runtimes.base import ModelKind
from corridor.serving.tensors import Batch, ModelSignature

if TYPE_CHECKING:
    from corridor.compute.sites import Site

ReplicaKind = Literal["inprocess", "process", "ray"]


class ReplicaCrashed(Unavailable):
    """The replica's process or actor died with a batch in flight (the batch was not answered)."""


class ModelFailed(CorridorError):
    """The model raised while predicting a batch (500); the replica itself is still alive, so
    the batch is not retried elsewhere (it would fail there too)."""


@dataclass(frozen=True)
class ReplicaSpec:
    """What a replica runs and where: a verified package folder and the place to run it."""

    version_key: str  # "model/version", for names and metrics
    package_path: Path
    manifest_json: bytes  # the package's manifest, as stored
    kind: ReplicaKind = "inprocess"
    # For "ray": the cluster's address and the actor's resources ({"CPU": 1, "GPU": 0}).
    ray_address: str | None = None
    resources: dict[str, float] = field(default_factory=dict)
    # For "ray": the site whose cluster to join (its token is checked first, as for jobs) and
    # whose custom resources place the actor; None: this process has joined a cluster already.
    ray_site: Site | None = None


class Replica(Protocol):
    name: str
    outstanding: int
    signature: ModelSignature
    kind: ModelKind

    async def start(self) -> None:
        """Load the model; return once it can predict (raise if it cannot)."""

    async def infer(self, inputs: Batch) -> Batch:
        """Predict one batch; `ReplicaCrashed` if the replica died meanwhile."""

    async def healthy(self) -> bool:
        """Whether the replica is alive and answering (a cheap check)."""

    async def stop(self) -> None:
        """Stop and release the replica; idempotent."""
