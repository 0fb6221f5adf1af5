"""The per-project pickle switch at registration: what Corridor's own API refuses to register.

A pickle-based flavour (`corridor.registry.flavours`; unknown flavours count as pickle-based)
is registered through Corridor's API only into a project whose server admin allowed pickle
(``corridor admin pickle allow PROJECT``). MLflow's routes do not apply this rule: MLflow
clients register what they logged (a cloudpickled sklearn model, flavour ``mlflow``) and load
it with their own client, so those versions are stored, and Corridor's loaders refuse them
unless the project allows pickle.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.registry.flavours import is_pickle_based
from corridor.security.models import Project


def check_pickle_switch(session: Session, project_id: str, flavour: str) -> None:
    """Refuse a pickle-based ``flavour`` unless the project allows pickle."""
    if not is_pickle_based(flavour):
        return
    project = session.get(Project, project_id)
    if project is None or project.allow_pickle:
        return
    raise InvalidInput(
        f"flavour {flavour!r} is pickle-based (loading it runs code from the package; unknown "
        f"flavours count as pickle-based) and project {project.name!r} does not allow pickle. "
        f"A server admin can allow it: corridor admin pickle allow {project.name} (or PUT "
        f'/api/v1/projects/{project.name}/pickle {{"allowed": true}}). Or save the model as '
        "ONNX, skops, safetensors or torch"
    )
