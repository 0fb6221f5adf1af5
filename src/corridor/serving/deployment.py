"""A model deployment live in this process: the `DeploymentHandle` the gateway calls.

One `LiveDeployment` holds, per served model version, its signature, its replica pool and the
`Batcher` in front of that pool; a request is checked against the signature of the version it
is routed to, sent through that version's batcher, and, when the traffic split says so,
mirrored to the shadow version by a task of its own (`corridor.serving.shadow`).

Invariants: a request is answered by exactly one version, the one `TrafficSplit` picks (or the
one the caller named); the shadow never changes, delays or fails the client's answer.

Cost reasoning (this is the hot path): everything a request needs is precomputed here when the
controller builds the deployment (the version table, the split, the metadata); a request costs
one signature check, one routing draw when there are several versions, and the batcher. No
database, no logging, no pydantic per request.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from corridor.errors import NotFound, Unavailable
from corridor.serving.batcher import Batcher
from corridor.serving.plane import InferenceContext
from corridor.serving.replicas.pool import ReplicaPool
from corridor.serving.runtimes.base import ModelKind
from corridor.serving.sansio.signature_check import check_inputs
from corridor.serving.sansio.traffic import TrafficSplit
from corridor.serving.shadow import ShadowRecorder
from corridor.serving.spec import DeploymentSpec
from corridor.serving.tensors import Batch, ModelSignature

if TYPE_CHECKING:
    from corridor.serving.gateway.metrics import ServingMetrics
    from corridor.serving.sampling import RequestSampler


@dataclass
class ServedVersion:
    """One model version of a deployment, loaded: what routing and metadata need of it."""

    model: str
    version: int
    signature: ModelSignature
    kind: ModelKind
    platform: str  # "corridor-torch", from the package's flavour
    pool: ReplicaPool
    batcher: Batcher

    @property
    def key(self) -> str:
        """The OIP version name (a string, as the protocol names versions)."""
        return str(self.version)


class LiveDeployment:
    """A deployment of model versions (routes, optionally a shadow), ready to infer."""

    def __init__(
        self,
        *,
        name: str,
        project_id: str,
        deployment_id: str,
        spec: DeploymentSpec,
        versions: Mapping[int, ServedVersion],
        shadow: ServedVersion | None = None,
        recorder: ShadowRecorder | None = None,
        metrics: ServingMetrics | None = None,
        sampler: RequestSampler | None = None,
    ) -> None:
        primary = versions[spec.routes[0].version]
        self.name = name
        self.project_id = project_id
        self.deployment_id = deployment_id
        self.spec = spec
        self.kind: ModelKind = primary.kind
        self.signature: ModelSignature = primary.signature
        self.sticky_header = spec.sticky_header
        self._versions = dict(versions)
        self.versions: tuple[str, ...] = tuple(str(r.version) for r in spec.routes)
        routed = [r for r in spec.routes if r.weight > 0]
        # One version with all the traffic (the common case) needs no draw at all.
        self._only = self._versions[routed[0].version] if len(routed) == 1 else None
        self._split = TrafficSplit(
            [(str(r.version), r.weight) for r in spec.routes],
            (str(spec.shadow.version), spec.shadow.percent) if spec.shadow else None,
        )
        self._by_key = {v.key: v for v in self._versions.values()}
        self._shadow = shadow
        self.recorder = recorder if recorder is not None else ShadowRecorder()
        self._random = random.random
        self._metrics = metrics
        # Offered every answer when the deployment samples (None: it does not, no cost).
        self.sampler = sampler

    def served(self) -> list[ServedVersion]:
        """Every version this deployment runs, the shadow included."""
        found = list(self._versions.values())
        if self._shadow is not None and self._shadow not in found:
            found.append(self._shadow)
        return found

    def ready(self, version: int | None = None) -> bool:
        if version is None:
            return any(v.pool.ready for v in self._versions.values())
        served = self._versions.get(version)
        return served is not None and served.pool.ready

    def metadata(self, version: int | None = None) -> dict[str, Any]:
        served = self._version(version) if version is not None else self._primary()
        return {
            "name": self.name,
            "versions": list(self.versions),
            "platform": served.platform,
            "inputs": [t.as_metadata() for t in served.signature.inputs],
            "outputs": [t.as_metadata() for t in served.signature.outputs],
        }

    def _primary(self) -> ServedVersion:
        return self._versions[self.spec.routes[0].version]

    def _version(self, version: int) -> ServedVersion:
        served = self._versions.get(version)
        if served is None:
            raise NotFound(
                f"deployment {self.name!r} has no version {version}; "
                f"it serves version(s) {', '.join(self.versions)}"
            )
        return served

    async def infer(self, inputs: Batch, context: InferenceContext) -> Batch:
        if context.version is not None:
            served = self._version(context.version)
        elif self._only is not None:
            served = self._only
        else:
            served = self._by_key[self._split.pick(context.sticky_key, self._random())]
        checked = check_inputs(served.signature, inputs)
        if self._metrics is not None:
            self._metrics.count_routed(self.name, served.key)
        shadow = self._shadow
        if shadow is None or self._split.shadow_for(context.sticky_key, self._random()) is None:
            outputs = await served.batcher.submit(checked)
        else:
            outputs = await self._infer_mirrored(served, shadow, checked)
        if self.sampler is not None:
            self.sampler.offer(checked, outputs, time.time(), served.key)
        return outputs

    async def _infer_mirrored(
        self, served: ServedVersion, shadow: ServedVersion, checked: Batch
    ) -> Batch:
        answer: asyncio.Future[Batch] = asyncio.get_running_loop().create_future()

        async def ask_shadow() -> Batch:
            return await shadow.batcher.submit(check_inputs(shadow.signature, checked))

        if not self.recorder.mirror(served.key, shadow.key, answer, ask_shadow):
            return await served.batcher.submit(checked)
        try:
            outputs = await served.batcher.submit(checked)
        except asyncio.CancelledError:
            answer.cancel()
            raise
        except BaseException as exc:
            answer.set_exception(exc)
            raise
        answer.set_result(outputs)
        return outputs


class PendingDeployment:
    """A deployment the controller is loading, or failed to load: known to the gateway (so
    ``/ready`` says false and a request gets 503 saying why, rather than 404), serving nothing."""

    def __init__(
        self, *, name: str, project_id: str, deployment_id: str, spec: DeploymentSpec, why: str
    ) -> None:
        self.name = name
        self.project_id = project_id
        self.deployment_id = deployment_id
        self.kind: ModelKind = "tensors"
        self.signature = ModelSignature(inputs=(), outputs=())
        self.versions: tuple[str, ...] = tuple(str(r.version) for r in spec.routes) or ("1",)
        self.sticky_header = spec.sticky_header
        self.why = why

    def ready(self, version: int | None = None) -> bool:
        return False

    def metadata(self, version: int | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": list(self.versions),
            "platform": "corridor",
            "inputs": [],
            "outputs": [],
        }

    async def infer(self, inputs: Batch, context: InferenceContext) -> Batch:
        raise Unavailable(f"deployment {self.name!r} {self.why}")
