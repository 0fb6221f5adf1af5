"""The live deployments of one server process, as the gateway sees them.

The serving controller (the slice's lifespan hook) keeps one `ServingPlane` per runtime up to
date from the deployments table; the gateway reads it on every request without touching the
database. `plane_for` returns the runtime's plane, made on first use, so the hook and the
gateway share it without either importing the other.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from corridor.serving.metrics import ServingMetrics
from corridor.serving.runtimes.base import ModelKind
from corridor.serving.tensors import Batch, ModelSignature

if TYPE_CHECKING:
    from corridor.runtime import Runtime


@dataclass(frozen=True)
class InferenceContext:
    """What the gateway knows about one request, for routing and sampling."""

    request_id: str
    token_id: str | None = None
    # The value of the deployment's sticky header, if the request sent it.
    sticky_key: str | None = None
    # Request parameters (OIP ``parameters``), for switch graphs.
    parameters: dict[str, Any] | None = None
    # An explicit version (``/v2/models/{m}/versions/{v}/infer``); None: routed by weight.
    version: int | None = None


class DeploymentHandle(Protocol):
    """One deployment, live in this process."""

    name: str
    project_id: str
    deployment_id: str
    kind: ModelKind
    # The signature requests are checked against (the primary route's version's).
    signature: ModelSignature
    # The versions it serves, e.g. ``["3", "4"]`` (OIP names versions with strings).
    versions: tuple[str, ...]
    sticky_header: str | None

    def ready(self, version: int | None = None) -> bool:
        """Whether a replica (of ``version``, if given) can answer now."""

    def metadata(self, version: int | None = None) -> dict[str, Any]:
        """The OIP model metadata (name, versions, platform, inputs, outputs)."""

    async def infer(self, inputs: Batch, context: InferenceContext) -> Batch:
        """Check ``inputs`` against the signature (`InvalidInput` naming it), route, batch,
        predict; raise `NotFound` for an unknown version, `Unavailable` if no replica comes up
        in time."""


class ServingPlane:
    """The deployments this process serves, by name. Swapped whole, read without locks."""

    def __init__(self) -> None:
        self.deployments: dict[str, DeploymentHandle] = {}
        # Bumped whenever the set changes, for the gateway's caches.
        self.generation = 0
        # Requests, latency, batch sizes, queue depth, replicas (rendered at /metrics).
        self.metrics = ServingMetrics()

    def get(self, name: str) -> DeploymentHandle | None:
        return self.deployments.get(name)

    def replace(self, deployments: dict[str, DeploymentHandle]) -> None:
        self.deployments = deployments
        self.generation += 1


_PLANES: weakref.WeakKeyDictionary[Runtime, ServingPlane] = weakref.WeakKeyDictionary()


def plane_for(runtime: Runtime) -> ServingPlane:
    """The serving plane of ``runtime``, made on first use."""
    plane = _PLANES.get(runtime)
    if plane is None:
        plane = _PLANES[runtime] = ServingPlane()
    return plane
