"""The MLflow model registry messages Corridor serves (``model_registry.proto``). No I/O.

Same conventions as `corridor.mlflow_compat.messages`: requests ignore unknown fields, responses
are dicts in the JSON MLflow's server writes (versions as strings, times as numbers).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from pydantic import Field

from corridor.mlflow_compat.messages import (
    KeyValue,
    KeyValueOut,
    Message,
    Repeated,
    key_values,
    local_name,
)
from corridor.registry.entities import ModelVersionRecord, RegisteredModelRecord


class ModelMessage(Message):
    """A request about one registered model, by its full name."""

    name: str


class CreateRegisteredModel(ModelMessage):
    tags: list[KeyValue] = Field(default_factory=list)
    description: str = ""


class RenameRegisteredModel(ModelMessage):
    new_name: str


class UpdateRegisteredModel(ModelMessage):
    description: str = ""


class SearchModels(Message):
    """``search-registered-models`` and ``model-versions/search`` take the same fields."""

    filter: str = ""
    max_results: int | None = None
    order_by: Repeated = Field(default_factory=list)
    page_token: str = ""


class GetLatestVersions(ModelMessage):
    stages: Repeated = Field(default_factory=list)


class CreateModelVersion(ModelMessage):
    source: str = ""
    run_id: str = ""
    tags: list[KeyValue] = Field(default_factory=list)
    run_link: str = ""
    description: str = ""
    model_id: str = ""


class VersionMessage(ModelMessage):
    version: str


class UpdateModelVersion(VersionMessage):
    description: str = ""


class TransitionModelVersionStage(VersionMessage):
    stage: str
    archive_existing_versions: bool = False


class SetRegisteredModelTag(ModelMessage):
    key: str
    value: str = ""


class DeleteRegisteredModelTag(ModelMessage):
    key: str


class SetModelVersionTag(VersionMessage):
    key: str
    value: str = ""


class DeleteModelVersionTag(VersionMessage):
    key: str


class SetRegisteredModelAlias(ModelMessage):
    alias: str
    version: str


class AliasMessage(ModelMessage):
    alias: str


# --- responses -----------------------------------------------------------------------------


class ModelVersionOut(TypedDict):
    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str
    current_stage: str
    description: str
    source: str
    run_id: str
    status: str
    status_message: NotRequired[str]
    tags: list[KeyValueOut]
    run_link: str
    aliases: list[str]
    model_id: NotRequired[str]


class AliasOut(TypedDict):
    alias: str
    version: str


class RegisteredModelOut(TypedDict):
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str
    latest_versions: list[ModelVersionOut]
    tags: list[KeyValueOut]
    aliases: list[AliasOut]


def model_version_out(version: ModelVersionRecord, workspace: str | None = None) -> ModelVersionOut:
    out: ModelVersionOut = {
        "name": local_name(version.name, workspace),
        "version": str(version.version),
        "creation_timestamp": version.creation_time,
        "last_updated_timestamp": version.last_updated_time,
        "user_id": version.user_id,
        "current_stage": version.current_stage,
        "description": version.description,
        "source": version.source,
        "run_id": version.run_id or "",
        "status": version.status,
        "tags": key_values(version.tags),
        "run_link": version.run_link or "",
        "aliases": list(version.aliases),
    }
    if version.status_message:
        out["status_message"] = version.status_message
    if version.model_id:
        out["model_id"] = version.model_id
    return out


def registered_model_out(
    model: RegisteredModelRecord, workspace: str | None = None
) -> RegisteredModelOut:
    return {
        "name": local_name(model.name, workspace),
        "creation_timestamp": model.creation_time,
        "last_updated_timestamp": model.last_updated_time,
        "description": model.description,
        "latest_versions": [model_version_out(v, workspace) for v in model.latest_versions],
        "tags": key_values(model.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
    }
