"""Request and response bodies of the registry's /api/v1 routes.

Times are epoch milliseconds under MLflow's names (``creation_timestamp``...), so that what our
API and the MLflow API return for the same version reads the same.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from corridor.registry.entities import ModelVersionRecord, RegisteredModelRecord
from corridor.registry.manifest import FileEntry, ManifestFields
from corridor.schemas import Request, Response


class ModelVersionOut(Response):
    id: str
    name: str
    project: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    description: str
    user_id: str
    current_stage: str
    source: str
    run_id: str | None
    run_link: str | None
    model_id: str | None = Field(description="MLflow 3 logged model id, if any.")
    status: str
    status_message: str | None
    storage_location: str | None
    package_digest: str | None
    flavour: str | None
    scope: str | None
    derived_from: str | None = Field(
        default=None, description="models:/NAME/VERSION of the version this one was made from."
    )
    tags: dict[str, str]
    aliases: list[str]
    pickle_allowed: bool = Field(
        default=False,
        description="Whether the version's project lets Corridor's loaders unpickle (a server "
        "admin's switch): a client refuses a pickle-based flavour without it.",
    )

    @classmethod
    def of(cls, r: ModelVersionRecord) -> ModelVersionOut:
        return cls(
            id=r.id,
            name=r.name,
            project=r.project,
            version=r.version,
            creation_timestamp=r.creation_time,
            last_updated_timestamp=r.last_updated_time,
            description=r.description,
            user_id=r.user_id,
            current_stage=r.current_stage,
            source=r.source,
            run_id=r.run_id,
            run_link=r.run_link,
            model_id=r.model_id,
            status=r.status,
            status_message=r.status_message,
            storage_location=r.storage_location,
            package_digest=r.package_digest,
            flavour=r.flavour,
            scope=r.scope,
            derived_from=r.derived_from,
            tags=r.tags,
            aliases=r.aliases,
            pickle_allowed=r.pickle_allowed,
        )


class RegisteredModelOut(Response):
    id: str
    name: str = Field(description="The full name, unique across the server ('churn/fraud').")
    project: str
    description: str
    creation_timestamp: int
    last_updated_timestamp: int
    tags: dict[str, str]
    aliases: dict[str, int]
    latest_versions: list[ModelVersionOut]
    pickle_allowed: bool = Field(
        default=False, description="Whether the model's project lets loaders unpickle."
    )

    @classmethod
    def of(cls, r: RegisteredModelRecord) -> RegisteredModelOut:
        return cls(
            id=r.id,
            name=r.name,
            project=r.project,
            description=r.description,
            creation_timestamp=r.creation_time,
            last_updated_timestamp=r.last_updated_time,
            tags=r.tags,
            aliases=r.aliases,
            latest_versions=[ModelVersionOut.of(v) for v in r.latest_versions],
            pickle_allowed=r.pickle_allowed,
        )


class ModelPage(Response):
    models: list[RegisteredModelOut]
    next_page_token: str | None = None


class VersionPage(Response):
    versions: list[ModelVersionOut]
    next_page_token: str | None = None


class ModelCreate(Request):
    name: str = Field(
        max_length=256, description="Qualified with the project: 'fraud' in churn is 'churn/fraud'."
    )
    description: str = Field(default="", max_length=5000)
    tags: dict[str, str] = Field(default_factory=dict, max_length=100)


class ModelUpdate(Request):
    description: str | None = Field(default=None, max_length=5000)
    name: str | None = Field(default=None, max_length=256, description="A new name (rename).")


class PackageSpec(ManifestFields):
    """A package to build from files already uploaded to the project (``POST /blobs``)."""

    files: dict[str, FileEntry] = Field(max_length=10_000)


class VersionCreate(Request):
    package: PackageSpec | None = None
    package_digest: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=500)
    run_id: str | None = Field(default=None, max_length=64)
    run_link: str | None = Field(default=None, max_length=500)
    model_id: str | None = Field(default=None, max_length=64)
    description: str = Field(default="", max_length=5000)
    tags: dict[str, str] = Field(default_factory=dict, max_length=100)


class VersionUpdate(Request):
    description: str = Field(max_length=5000)


class TagSet(Request):
    key: str = Field(max_length=250)
    value: str = Field(max_length=5000)


class StageChange(Request):
    stage: str = Field(max_length=20)
    archive_existing_versions: bool = False


class AliasSet(Request):
    version: int = Field(gt=0)


class BlobOut(Response):
    digest: str
    size: int


class LineageNodeOut(Response):
    kind: str
    id: str
    distance: int
    project: str | None = Field(default=None, description="For model versions.")
    name: str | None = Field(default=None, description="For model versions: the model name.")
    version: int | None = None


class LineageEdgeOut(Response):
    src_kind: str
    src_id: str
    dst_kind: str
    dst_id: str
    created_at: dt.datetime


class LineageOut(Response):
    root: LineageNodeOut
    direction: str
    depth: int
    nodes: list[LineageNodeOut]
    edges: list[LineageEdgeOut]
