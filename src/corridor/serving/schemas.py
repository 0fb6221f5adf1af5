"""Request and response bodies of the serving control plane's /api/v1 routes.

A deploy names models by reference (``mlp@production``, ``mlp@3``); the server resolves each to
a version number when it writes the revision, so what a revision serves never moves with an
alias. The stored spec (`corridor.serving.spec.DeploymentSpec`) is what every reply shows.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from corridor.schemas import Request, Response
from corridor.serving.spec import (
    Autoscaling,
    Batching,
    DeploymentSpec,
    Graph,
    Placement,
    RateLimit,
    Sampling,
)


class TrafficIn(Request):
    """A model reference and the share of traffic (percent) it gets."""

    model: str = Field(min_length=1, max_length=512, description="M@alias or M@N")
    weight: float = Field(ge=0, le=100)


class ShadowIn(Request):
    """Mirror ``percent`` of requests to ``model``; its answers are recorded, not returned."""

    model: str = Field(min_length=1, max_length=512)
    percent: float = Field(default=100.0, gt=0, le=100)


class DeployIn(Request):
    """Create a deployment, or redeploy one (a new revision). The whole spec is given each time:
    what is left out takes its default.

    Name the models one of three ways: ``model`` alone (all traffic); ``model`` and ``canary``
    (each canary gets its weight, ``model`` the rest); or ``routes`` with weights adding up to
    100. A ``graph`` deployment names other deployments instead and takes no models.
    """

    name: str = Field(min_length=1, max_length=63)
    model: str | None = Field(default=None, min_length=1, max_length=512)
    canary: list[TrafficIn] = Field(default_factory=list, max_length=16)
    routes: list[TrafficIn] | None = Field(default=None, min_length=1, max_length=16)
    shadow: ShadowIn | None = None
    sticky_header: str | None = Field(default=None, min_length=1, max_length=128)
    replicas: int = Field(default=1, ge=0, le=256)
    site: str | None = Field(default=None, min_length=1, max_length=64)
    autoscaling: Autoscaling | None = None
    batching: Batching | None = None
    placement: Placement | None = None
    sampling: Sampling | None = None
    rate_limit: RateLimit | None = None
    graph: Graph | None = None


class ScaleIn(Request):
    """A fixed number of replicas, or autoscaling bounds (and target), or both."""

    replicas: int | None = Field(default=None, ge=0, le=256)
    min_replicas: int | None = Field(default=None, ge=0, le=256)
    max_replicas: int | None = Field(default=None, ge=1, le=256)
    target_concurrency: float | None = Field(default=None, gt=0, le=10_000)


class RollbackIn(Request):
    """Serve an earlier revision's spec again, as a new revision (default: the one before)."""

    to_revision: int | None = Field(default=None, ge=1)


class Paths(Response):
    """Where the deployment answers, on the server's own address."""

    infer: str
    ready: str
    metadata: str


class RevisionOut(Response):
    revision: int
    reason: str
    created_by: str
    created_at: dt.datetime
    current: bool
    spec: DeploymentSpec


class DeploymentOut(Response):
    id: str
    name: str
    project: str
    revision: int = Field(description="The revision served now.")
    status: str = Field(description="pending, loading, ready or failed (set by the server).")
    message: str
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    spec: DeploymentSpec
    paths: Paths
    # Only in the reply of a single deployment (newest first).
    revisions: list[RevisionOut] | None = None
