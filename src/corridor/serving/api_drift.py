"""HTTP route of a deployment's drift report:
``GET /api/v1/projects/{project}/deployments/{name}/drift``.

Reading a drift report needs ``project:read`` in the deployment's project (and read access to
the training data it is compared with, which may live in another project). The comparison
decodes both datasets, so the route finds what it needs in one short read transaction and does
the work holding none (`corridor.serving.drift`), in FastAPI's worker threads.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from corridor.data.limits import DataLimits
from corridor.security.policy import Permission
from corridor.serving.drift import DeploymentDrift, deployment_drift
from corridor.web.guard import Access, get_runtime, requires

router = APIRouter(prefix="/api/v1", tags=["serving"])


@router.get("/projects/{project}/deployments/{name}/drift", response_model=DeploymentDrift)
def drift(
    project: str,
    name: str,
    request: Request,
    reference: str | None = Query(
        None,
        max_length=200,
        description="the data to compare with ([project/]name@3); default: the training data "
        "the served model version's package names",
    ),
    psi_threshold: float = Query(0.2, gt=0, le=10, description="PSI at which a column drifted"),
    ks_threshold: float | None = Query(
        None, gt=0, le=1, description="KS statistic at which a numeric column drifted"
    ),
    access: Access = requires(Permission.PROJECT_READ),
) -> DeploymentDrift:
    """How the requests the deployment sampled differ from its model's training data."""
    runtime = get_runtime(request)
    return deployment_drift(
        runtime.db,
        runtime.blobs,
        DataLimits.from_settings(runtime.settings),
        access.project_or_fail,
        name,
        by=access.principal,
        reference=reference,
        psi_threshold=psi_threshold,
        ks_threshold=ks_threshold,
    )
