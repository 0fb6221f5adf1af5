"""MLflow's model registry endpoints (models, versions, stages, tags, aliases), over
`corridor.registry.service`.

Model names are Corridor's: one namespace across the server, ``"<project>/<name>"`` for a model
of a project, any other name for one of ``default``. Within an MLflow workspace (the header
``X-MLFLOW-WORKSPACE``, a project) a bare name is qualified with the project. Deleting a model
or a version needs the project's admin, as in Corridor's own API.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.mlflow_compat import artifact_registration as registration
from corridor.mlflow_compat.access import Located, MlflowAccess, mlflow_requires, workspace_of
from corridor.mlflow_compat.locate import Named, by_workspace
from corridor.mlflow_compat.registry_messages import (
    AliasMessage,
    CreateModelVersion,
    CreateRegisteredModel,
    DeleteModelVersionTag,
    DeleteRegisteredModelTag,
    GetLatestVersions,
    ModelMessage,
    RenameRegisteredModel,
    SearchModels,
    SetModelVersionTag,
    SetRegisteredModelAlias,
    SetRegisteredModelTag,
    TransitionModelVersionStage,
    UpdateModelVersion,
    UpdateRegisteredModel,
    VersionMessage,
    model_version_out,
    registered_model_out,
)
from corridor.mlflow_compat.routes import endpoint, page_reply, reply
from corridor.registry import service
from corridor.security.policy import Permission
from corridor.security.projects import project_name_for, qualified_name, readable_project_ids
from corridor.web.guard import get_runtime
from corridor.web.sessions import ReadSession, WriteRoute, WriteSession

router = APIRouter(tags=["mlflow"], route_class=WriteRoute)

READ = Permission.PROJECT_READ
WRITE = Permission.PROJECT_WRITE
ADMIN = Permission.PROJECT_ADMIN


def full_name(request: Request, name: str) -> str:
    """The model's server-wide name: in a workspace, a bare name is qualified with it."""
    workspace = workspace_of(request)
    return qualified_name(workspace, name) if workspace else name


def by_model(session: Session, message: Named, request: Request) -> Sequence[Located]:
    """The project of the registered model the message names."""
    name = full_name(request, message.name)
    return [(service.model_project(session, name).name, f"registered model {name!r}")]


def by_new_model(session: Session, message: Named, request: Request) -> Sequence[Located]:
    """Where a model named ``name`` is created: the workspace, else the name's project."""
    if not message.name:
        raise InvalidInput("Missing value for required parameter 'name'")
    project = workspace_of(request) or project_name_for(session, message.name)
    return [(project, f"project {project!r}")]


def _name(request: Request, access: MlflowAccess) -> str:
    return full_name(request, access.message_as(ModelMessage).name)


# --- registered models ---------------------------------------------------------------------


@endpoint(router, "POST", "/mlflow/registered-models/create")
def create_registered_model(
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, CreateRegisteredModel, by_new_model),
) -> JSONResponse:
    message = access.message_as(CreateRegisteredModel)
    project = access.project_or_fail
    created = service.create_registered_model(
        session,
        project,
        qualified_name(project.name, message.name),
        description=message.description,
        tags={t.key: t.value for t in message.tags},
    )
    return reply({"registered_model": registered_model_out(created, access.workspace)})


@endpoint(router, "GET", "/mlflow/registered-models/get")
def get_registered_model(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, ModelMessage, by_model),
) -> JSONResponse:
    found = service.get_registered_model(session, _name(request, access))
    return reply({"registered_model": registered_model_out(found, access.workspace)})


@endpoint(router, "POST", "/mlflow/registered-models/rename")
def rename_registered_model(
    request: Request,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, RenameRegisteredModel, by_model),
) -> JSONResponse:
    message = access.message_as(RenameRegisteredModel)
    renamed = service.rename_registered_model(
        session, _name(request, access), full_name(request, message.new_name)
    )
    return reply({"registered_model": registered_model_out(renamed, access.workspace)})


@endpoint(router, "PATCH", "/mlflow/registered-models/update")
def update_registered_model(
    request: Request,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, UpdateRegisteredModel, by_model),
) -> JSONResponse:
    message = access.message_as(UpdateRegisteredModel)
    updated = service.update_registered_model(
        session, _name(request, access), description=message.description
    )
    return reply({"registered_model": registered_model_out(updated, access.workspace)})


@endpoint(router, "DELETE", "/mlflow/registered-models/delete")
def delete_registered_model(
    session: WriteSession,
    request: Request,
    access: MlflowAccess = mlflow_requires(ADMIN, ModelMessage, by_model),
) -> JSONResponse:
    service.delete_registered_model(session, _name(request, access))
    return reply()


# MLflow 3 clients add this clause to every model search, to leave out prompts (models tagged
# as prompts by MLflow's prompt registry). Corridor has no prompt registry, so the clause is
# dropped; a search that asks for prompts finds none.
_NOT_A_PROMPT = re.compile(
    r"(?:\s+AND\s+)?tags?\.`mlflow\.prompt\.is_prompt`\s*!=\s*'true'", re.IGNORECASE
)
_PROMPTS_ONLY = re.compile(r"tags?\.`mlflow\.prompt\.is_prompt`\s*=\s*'true'", re.IGNORECASE)


def model_filter(filter_string: str) -> str | None:
    """The filter for the registry: MLflow's "not a prompt" clause removed; None if empty."""
    return _NOT_A_PROMPT.sub("", filter_string).strip() or None


def _readable(session: Session, access: MlflowAccess) -> set[str] | None:
    if access.workspace:
        return {access.project_or_fail.id}
    return readable_project_ids(session, access.principal)


@endpoint(router, "GET", "/mlflow/registered-models/search")
def search_registered_models(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, SearchModels, by_workspace),
) -> JSONResponse:
    """Models of the workspace's project, or of every project the caller may read."""
    message = access.message_as(SearchModels)
    if _PROMPTS_ONLY.search(message.filter):
        return reply({})
    page = service.search_registered_models(
        session,
        project_ids=_readable(session, access),
        filter_string=model_filter(message.filter),
        order_by=message.order_by,
        max_results=message.max_results or 100,
        page_token=message.page_token or None,
    )
    return page_reply(
        "registered_models",
        [registered_model_out(m, access.workspace) for m in page.items],
        page.next_page_token,
    )


def _latest_versions(request: Request, session: Session, access: MlflowAccess) -> JSONResponse:
    message = access.message_as(GetLatestVersions)
    found = service.get_latest_versions(
        session, _name(request, access), list(message.stages) or None
    )
    return reply({"model_versions": [model_version_out(v, access.workspace) for v in found]})


@endpoint(router, "POST", "/mlflow/registered-models/get-latest-versions")
def get_latest_versions(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, GetLatestVersions, by_model),
) -> JSONResponse:
    return _latest_versions(request, session, access)


@endpoint(router, "GET", "/mlflow/registered-models/get-latest-versions")
def get_latest_versions_get(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, GetLatestVersions, by_model),
) -> JSONResponse:
    return _latest_versions(request, session, access)


@endpoint(router, "POST", "/mlflow/registered-models/set-tag")
def set_registered_model_tag(
    request: Request,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, SetRegisteredModelTag, by_model),
) -> JSONResponse:
    message = access.message_as(SetRegisteredModelTag)
    service.set_registered_model_tag(session, _name(request, access), message.key, message.value)
    return reply()


@endpoint(router, "DELETE", "/mlflow/registered-models/delete-tag")
def delete_registered_model_tag(
    request: Request,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, DeleteRegisteredModelTag, by_model),
) -> JSONResponse:
    message = access.message_as(DeleteRegisteredModelTag)
    service.delete_registered_model_tag(session, _name(request, access), message.key)
    return reply()


# --- aliases -------------------------------------------------------------------------------


@endpoint(router, "POST", "/mlflow/registered-models/alias")
def set_registered_model_alias(
    request: Request,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, SetRegisteredModelAlias, by_model),
) -> JSONResponse:
    message = access.message_as(SetRegisteredModelAlias)
    service.set_registered_model_alias(
        session, _name(request, access), message.alias, message.version
    )
    return reply()


@endpoint(router, "DELETE", "/mlflow/registered-models/alias")
def delete_registered_model_alias(
    session: WriteSession,
    request: Request,
    access: MlflowAccess = mlflow_requires(WRITE, AliasMessage, by_model),
) -> JSONResponse:
    message = access.message_as(AliasMessage)
    service.delete_registered_model_alias(session, _name(request, access), message.alias)
    return reply()


@endpoint(router, "GET", "/mlflow/registered-models/alias")
def get_model_version_by_alias(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, AliasMessage, by_model),
) -> JSONResponse:
    message = access.message_as(AliasMessage)
    found = service.get_model_version_by_alias(session, _name(request, access), message.alias)
    return reply({"model_version": model_version_out(found, access.workspace)})


# --- model versions ------------------------------------------------------------------------


@endpoint(router, "POST", "/mlflow/model-versions/create")
def create_model_version(
    request: Request,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, CreateModelVersion, by_model),
) -> JSONResponse:
    """Register a run's or logged model's files as the model's next version, READY at once.

    The files are not copied: the version's package lists the blobs the source's artifacts
    are already stored as. The caller must be able to read the source.
    """
    message = access.message_as(CreateModelVersion)
    runtime = get_runtime(request)
    created = registration.register_version(
        session,
        runtime.blobs,
        _name(request, access),
        project=access.project_or_fail,
        by=access.principal,
        source=message.source,
        run_id=message.run_id or None,
        model_id=message.model_id or None,
        run_link=message.run_link or None,
        description=message.description,
        tags={t.key: t.value for t in message.tags},
    )
    return reply({"model_version": model_version_out(created, access.workspace)})


@endpoint(router, "GET", "/mlflow/model-versions/get")
def get_model_version(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, VersionMessage, by_model),
) -> JSONResponse:
    message = access.message_as(VersionMessage)
    found = service.get_model_version(session, _name(request, access), message.version)
    return reply({"model_version": model_version_out(found, access.workspace)})


@endpoint(router, "PATCH", "/mlflow/model-versions/update")
def update_model_version(
    request: Request,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, UpdateModelVersion, by_model),
) -> JSONResponse:
    message = access.message_as(UpdateModelVersion)
    updated = service.update_model_version(
        session, _name(request, access), message.version, description=message.description
    )
    return reply({"model_version": model_version_out(updated, access.workspace)})


@endpoint(router, "POST", "/mlflow/model-versions/transition-stage")
def transition_model_version_stage(
    request: Request,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, TransitionModelVersionStage, by_model),
) -> JSONResponse:
    message = access.message_as(TransitionModelVersionStage)
    moved = service.transition_model_version_stage(
        session,
        _name(request, access),
        message.version,
        message.stage,
        archive_existing_versions=message.archive_existing_versions,
    )
    return reply({"model_version": model_version_out(moved, access.workspace)})


@endpoint(router, "DELETE", "/mlflow/model-versions/delete")
def delete_model_version(
    session: WriteSession,
    request: Request,
    access: MlflowAccess = mlflow_requires(ADMIN, VersionMessage, by_model),
) -> JSONResponse:
    message = access.message_as(VersionMessage)
    service.delete_model_version(session, _name(request, access), message.version)
    return reply()


@endpoint(router, "GET", "/mlflow/model-versions/search")
def search_model_versions(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, SearchModels, by_workspace),
) -> JSONResponse:
    message = access.message_as(SearchModels)
    page = service.search_model_versions(
        session,
        project_ids=_readable(session, access),
        filter_string=message.filter or None,
        order_by=message.order_by,
        max_results=message.max_results or 10_000,
        page_token=message.page_token or None,
    )
    return page_reply(
        "model_versions",
        [model_version_out(v, access.workspace) for v in page.items],
        page.next_page_token,
    )


@endpoint(router, "GET", "/mlflow/model-versions/get-download-uri")
def get_model_version_download_uri(
    request: Request,
    session: ReadSession,
    access: MlflowAccess = mlflow_requires(READ, VersionMessage, by_model),
) -> JSONResponse:
    """Where the client downloads the version's files: its source's ``mlflow-artifacts`` tree."""
    message = access.message_as(VersionMessage)
    found = service.get_model_version(session, _name(request, access), message.version)
    uri = registration.download_uri(session, found)
    return reply({"artifact_uri": uri})


@endpoint(router, "POST", "/mlflow/model-versions/set-tag")
def set_model_version_tag(
    session: WriteSession,
    request: Request,
    access: MlflowAccess = mlflow_requires(WRITE, SetModelVersionTag, by_model),
) -> JSONResponse:
    message = access.message_as(SetModelVersionTag)
    service.set_model_version_tag(
        session, _name(request, access), message.version, message.key, message.value
    )
    return reply()


@endpoint(router, "DELETE", "/mlflow/model-versions/delete-tag")
def delete_model_version_tag(
    request: Request,
    session: WriteSession,
    access: MlflowAccess = mlflow_requires(WRITE, DeleteModelVersionTag, by_model),
) -> JSONResponse:
    message = access.message_as(DeleteModelVersionTag)
    service.delete_model_version_tag(session, _name(request, access), message.version, message.key)
    return reply()
