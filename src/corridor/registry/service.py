"""The registry's services in one place: what `api`, the CLI and the MLflow layer call.

Every function takes an open session (``Database.write()`` for changes, ``read()`` for
queries) and returns plain records (`corridor.registry.entities`). Model names are full names
(``"churn/fraud"``); ``project_id``, where given, also requires the model to live in that
project (a model elsewhere is reported as absent). The work is done in one module per job:

- `registered_models`: create, get, rename, describe, tag, delete models
- `registration`: register versions from packages or sources; finish or fail pending ones
- `versions`: get, describe, tag, delete versions
- `stages`: MLflow stages and latest versions per stage
- `aliases`: set, delete and resolve aliases; resolve ``models:/`` URIs
- `search`: MLflow-style filter, order_by and page tokens
- `lineage`: edges and walks; `uploads`: which blobs a project may package
"""

from __future__ import annotations

from corridor.lineage import (
    Direction,
    Lineage,
    Node,
    NodeKind,
    add_edge,
    downstream,
    upstream,
    walk,
)
from corridor.lineage.visibility import check_lineage_root, lineage_visibility
from corridor.registry.aliases import (
    delete_registered_model_alias,
    get_model_version_by_alias,
    resolve_model_uri,
    set_registered_model_alias,
)
from corridor.registry.entities import ModelVersionRecord, Page, RegisteredModelRecord
from corridor.registry.registered_models import (
    create_registered_model,
    delete_registered_model,
    delete_registered_model_tag,
    get_registered_model,
    model_project,
    rename_registered_model,
    set_registered_model_tag,
    update_registered_model,
)
from corridor.registry.registration import (
    NewPackage,
    create_model_version,
    fail_model_version,
    finish_model_version,
    register_package,
)
from corridor.registry.search import search_model_versions, search_registered_models
from corridor.registry.stages import get_latest_versions, transition_model_version_stage
from corridor.registry.uploads import stage_blobs
from corridor.registry.versions import (
    delete_model_version,
    delete_model_version_tag,
    get_model_version,
    get_model_version_by_id,
    set_model_version_tag,
    update_model_version,
)
from corridor.security.projects import can_read, readable_project_ids

__all__ = [
    "Direction",
    "Lineage",
    "ModelVersionRecord",
    "NewPackage",
    "Node",
    "NodeKind",
    "Page",
    "RegisteredModelRecord",
    "add_edge",
    "can_read",
    "check_lineage_root",
    "create_model_version",
    "create_registered_model",
    "delete_model_version",
    "delete_model_version_tag",
    "delete_registered_model",
    "delete_registered_model_alias",
    "delete_registered_model_tag",
    "downstream",
    "fail_model_version",
    "finish_model_version",
    "get_latest_versions",
    "get_model_version",
    "get_model_version_by_alias",
    "get_model_version_by_id",
    "get_registered_model",
    "lineage_visibility",
    "model_project",
    "readable_project_ids",
    "register_package",
    "rename_registered_model",
    "resolve_model_uri",
    "search_model_versions",
    "search_registered_models",
    "set_model_version_tag",
    "set_registered_model_alias",
    "set_registered_model_tag",
    "stage_blobs",
    "transition_model_version_stage",
    "update_model_version",
    "update_registered_model",
    "upstream",
    "walk",
]
