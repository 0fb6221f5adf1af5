"""MLflow 3's logged models: what Corridor can answer while tracking keeps none.

MLflow 3 clients look for a logged model whenever they read a run's artifacts (``runs:/<run>/
<name>`` may name a model logged from the run), by searching the run's experiment for a logged
model of that name. Corridor's tracking slice keeps no logged models yet, so that search is
answered truthfully: none, for callers who may read the experiments. Creating logged models
(``mlflow.<flavour>.log_model``) is not served yet; see docs/mlflow.md, "Not done yet".
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from corridor.mlflow_compat import locate
from corridor.mlflow_compat.access import MlflowAccess, mlflow_requires
from corridor.mlflow_compat.messages import Message, Repeated
from corridor.mlflow_compat.routes import endpoint, reply
from corridor.security.policy import Permission

router = APIRouter(tags=["mlflow"])


class SearchLoggedModels(Message):
    experiment_ids: Repeated = Field(default_factory=list)
    filter: str = ""
    max_results: int = 50
    page_token: str = ""


@endpoint(router, "POST", "/mlflow/logged-models/search")
def search_logged_models(
    access: MlflowAccess = mlflow_requires(
        Permission.PROJECT_READ, SearchLoggedModels, locate.by_experiments
    ),
) -> JSONResponse:
    """No logged models match: there are none to match."""
    return reply({})
