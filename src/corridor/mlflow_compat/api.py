"""The MLflow surface as one router, for the server to mount."""

from __future__ import annotations

from fastapi import APIRouter

from corridor.mlflow_compat import artifacts_api, logged_models_api, registry_api, tracking_api
from corridor.mlflow_compat.routes import PREFIXES

router = APIRouter()
for _part in (
    tracking_api.router,
    artifacts_api.router,
    registry_api.router,
    logged_models_api.router,
):
    router.include_router(_part)

# Artifact uploads stream bodies of any size; the server exempts them from its body limit.
UNLIMITED_BODY_PREFIXES = tuple(f"{p}{artifacts_api.SERVICE}/" for p in PREFIXES)
