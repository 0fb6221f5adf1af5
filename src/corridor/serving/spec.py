"""What a deployment asks for, as stored with each of its revisions. Validated, no I/O.

A deployment is either a *model* deployment (``routes``: model versions with traffic weights,
optionally a ``shadow`` and a ``sticky_header``) or a *graph* (``graph``: a sequence, ensemble or
switch over other deployments, by name). Model references are resolved to version numbers when
a revision is made, so a revision always names exactly what it serves; an alias that moves later
changes nothing until someone deploys again.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEPLOYMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
"""Deployment names: the model name on the OIP and OpenAI routes, so URL-safe and lower case."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VersionRoute(_Strict):
    """One model version and the share of traffic (0-100) it gets."""

    model: str = Field(min_length=1, max_length=256)  # the registered model's full name
    version: int = Field(ge=1)
    weight: float = Field(default=100.0, ge=0, le=100)
    # The reference it was deployed as ("mlp@production"), for people; not used to route.
    ref: str | None = Field(default=None, max_length=512)


class Shadow(_Strict):
    """Mirror ``percent`` of requests to another version; its answers are recorded, not sent."""

    model: str = Field(min_length=1, max_length=256)
    version: int = Field(ge=1)
    percent: float = Field(default=100.0, gt=0, le=100)
    ref: str | None = Field(default=None, max_length=512)


class Batching(_Strict):
    """Adaptive batching: gather up to ``max_batch_size`` rows or wait at most
    ``max_queue_delay_ms``; never hold a request past ``latency_budget_ms``."""

    enabled: bool = True
    max_batch_size: int = Field(default=32, ge=1, le=4096)
    max_queue_delay_ms: float = Field(default=2.0, ge=0, le=10_000)
    latency_budget_ms: float | None = Field(default=None, gt=0, le=600_000)


class Autoscaling(_Strict):
    """Keep about ``target_concurrency`` requests in flight per replica, between the bounds."""

    min_replicas: int = Field(default=1, ge=0, le=256)
    max_replicas: int = Field(default=1, ge=1, le=256)
    target_concurrency: float = Field(default=8.0, gt=0, le=10_000)
    upscale_delay_s: float = Field(default=5.0, ge=0, le=3600)
    downscale_delay_s: float = Field(default=60.0, ge=0, le=86_400)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self

    @property
    def scale_to_zero(self) -> bool:
        return self.min_replicas == 0


ReplicaPlacementKind = Literal["auto", "inprocess", "process", "ray"]


class Placement(_Strict):
    """Where replicas run: ``auto`` picks the gateway's process for small models on a local
    site, local processes for large ones, and Ray actors on a Ray site."""

    kind: ReplicaPlacementKind = "auto"
    site: str | None = Field(default=None, max_length=64)
    resources: dict[str, float] = Field(default_factory=dict)


class Sampling(_Strict):
    """Record ``rate`` (0-1) of requests and responses, PII-masked, to a dataset."""

    rate: float = Field(default=0.0, ge=0, le=1)
    dataset: str | None = Field(default=None, max_length=128)


class RateLimit(_Strict):
    """Per-token limit: ``requests_per_s`` sustained, bursts up to ``burst``."""

    requests_per_s: float = Field(gt=0, le=1_000_000)
    burst: int = Field(default=0, ge=0, le=1_000_000)  # 0: the same as one second's worth


class SequenceGraph(_Strict):
    """Each step's outputs are the next step's inputs (e.g. an embedder, then a classifier)."""

    kind: Literal["sequence"] = "sequence"
    steps: tuple[str, ...] = Field(min_length=1, max_length=32)


class EnsembleGraph(_Strict):
    """Every member answers the same inputs; their outputs are averaged or voted on."""

    kind: Literal["ensemble"] = "ensemble"
    members: tuple[str, ...] = Field(min_length=2, max_length=32)
    combine: Literal["mean", "vote"] = "mean"


class SwitchGraph(_Strict):
    """Route each request on a request parameter: ``cases`` maps its value to a deployment."""

    kind: Literal["switch"] = "switch"
    field: str = Field(min_length=1, max_length=128)
    cases: dict[str, str] = Field(min_length=1, max_length=256)
    default: str | None = None


Graph = Annotated[SequenceGraph | EnsembleGraph | SwitchGraph, Field(discriminator="kind")]


class DeploymentSpec(_Strict):
    """One revision of a deployment."""

    routes: tuple[VersionRoute, ...] = ()
    shadow: Shadow | None = None
    sticky_header: str | None = Field(default=None, max_length=128)
    graph: Graph | None = None
    replicas: int = Field(default=1, ge=0, le=256)
    autoscaling: Autoscaling | None = None
    batching: Batching = Field(default_factory=Batching)
    placement: Placement = Field(default_factory=Placement)
    sampling: Sampling = Field(default_factory=Sampling)
    rate_limit: RateLimit | None = None

    @model_validator(mode="after")
    def _shape(self) -> DeploymentSpec:
        if self.graph is not None and self.routes:
            raise ValueError("a deployment serves either model routes or a graph, not both")
        if self.graph is None and not self.routes:
            raise ValueError("a deployment needs at least one model route or a graph")
        if self.routes and abs(sum(r.weight for r in self.routes) - 100.0) > 1e-6:
            raise ValueError("the routes' weights must add up to 100")
        keys = [(r.model, r.version) for r in self.routes]
        if len(set(keys)) != len(keys):
            raise ValueError("each model version may appear in the routes once")
        return self
