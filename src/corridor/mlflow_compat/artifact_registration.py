"""Registering what MLflow clients register: a run's (or logged model's) artifacts as a version.

The registry makes a version from a run or logged-model source ``PENDING_REGISTRATION`` until
it is given a package of the source's files. MLflow clients wait for ``READY``, so here the
version gets its package in the same transaction: the package lists the blobs the source's
artifacts are already stored as (blobs are content-addressed, so nothing is copied). The caller
must be able to read the run or logged model the files come from, and a logged model must be
READY (finalized after its upload), so that a version never holds half an upload.

The package's flavour is ``mlflow``, which Corridor's own loaders treat as pickle-based (an
MLflow model may hold cloudpickled code): they load it only from a project whose server admin
allows pickle. Registration here does not apply that switch (`corridor.registry.pickle_rule`),
so that MLflow clients keep registering what they log. The server itself never loads, unpickles
or even parses the files.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.mlflow_compat.artifact_locations import version_root
from corridor.mlflow_compat.version_folders import serves_folder
from corridor.registry import service
from corridor.registry.entities import ModelVersionRecord
from corridor.registry.manifest import FileEntry, ManifestFields
from corridor.registry.source_uris import Source, SourceKind, parse_source
from corridor.registry.uploads import stage_blobs
from corridor.registry.validation import VersionStatus
from corridor.security import projects
from corridor.security.models import Project
from corridor.security.policy import Permission, Principal
from corridor.store.blobs import BlobStore
from corridor.tracking import artifacts, logged_models, runs
from corridor.tracking.artifact_paths import join
from corridor.tracking.entities import FileInfo
from corridor.tracking.logged_models import LoggedModelStatus

MLFLOW_FLAVOUR = "mlflow"
MLMODEL = "MLmodel"


def _readable_run(session: Session, run_id: str, by: Principal) -> None:
    try:
        projects.authorize(
            session, runs.project_of_run(session, run_id), by, Permission.PROJECT_READ
        )
    except NotFound:
        raise NotFound(f"run {run_id!r} not found") from None


def _readable_logged_model(session: Session, model_id: str, by: Principal) -> None:
    try:
        project = logged_models.project_of_logged_model(session, model_id)
        projects.authorize(session, project, by, Permission.PROJECT_READ)
    except NotFound:
        raise NotFound(f"logged model {model_id!r} not found") from None


def _walk(session: Session, owner_id: str, directory: str) -> list[FileInfo]:
    found: list[FileInfo] = []
    for entry in artifacts.list_artifacts(session, owner_id, directory):
        found.extend(_walk(session, owner_id, entry.path) if entry.is_dir else [entry])
    return found


def _entry(info: FileInfo) -> FileEntry:
    if info.digest is None or info.file_size is None:
        raise InvalidInput(f"artifact {info.path!r} is not a file")
    return FileEntry(digest=info.digest, size=info.file_size)


def owner_files(session: Session, owner_id: str, path: str) -> dict[str, FileEntry]:
    """The files under ``path`` of a run's or logged model's artifacts (or the file ``path``),
    by relative path."""
    if path:
        try:
            one = artifacts.stat_artifact(session, owner_id, path)
        except NotFound:
            pass
        else:
            return {path.rpartition("/")[2]: _entry(one)}
    prefix = join(path, "") if path else ""
    found = _walk(session, owner_id, path)
    return {info.path.removeprefix(prefix): _entry(info) for info in found}


def _logged_model_files(session: Session, source: Source, by: Principal) -> dict[str, FileEntry]:
    assert source.model_id is not None
    _readable_logged_model(session, source.model_id, by)
    model = logged_models.get_logged_model(session, source.model_id)
    if source.experiment_id is not None and source.experiment_id != model.experiment_id:
        raise NotFound(
            f"logged model {source.model_id!r} not found in experiment {source.experiment_id!r}"
        )
    if model.status != LoggedModelStatus.READY:
        raise Conflict(
            f"logged model {source.model_id} is {model.status}, not READY: register it once "
            "its files are uploaded and it is finalized"
        )
    files = owner_files(session, source.model_id, source.path)
    if not files:
        raise InvalidInput(f"model source {source.uri!r} holds no files; log the model first")
    return files


def source_files(session: Session, source: Source, by: Principal) -> dict[str, FileEntry] | None:
    """The files a run or logged-model source names; None for sources the registry resolves
    itself (another version, a package)."""
    if source.kind is SourceKind.LOGGED_MODEL:
        return _logged_model_files(session, source, by)
    if source.kind is not SourceKind.RUN:
        return None
    assert source.run_id is not None
    _readable_run(session, source.run_id, by)
    info = runs.get_run_info(session, source.run_id)
    if source.experiment_id is not None and source.experiment_id != info.experiment_id:
        raise NotFound(f"run {source.run_id!r} not found in experiment {source.experiment_id!r}")
    files = owner_files(session, source.run_id, source.path)
    if not files:
        raise InvalidInput(f"model source {source.uri!r} holds no files; log the model first")
    return files


def register_version(
    session: Session,
    blobs: BlobStore,
    name: str,
    *,
    project: Project,
    by: Principal,
    source: str,
    run_id: str | None,
    model_id: str | None,
    run_link: str | None,
    description: str,
    tags: Mapping[str, str],
) -> ModelVersionRecord:
    """Create the next version of ``name`` from an MLflow source, READY when this returns."""
    if not source:
        raise InvalidInput("Missing value for required parameter 'source'")
    parsed = parse_source(source)
    files = source_files(session, parsed, by)
    if parsed.kind is SourceKind.LOGGED_MODEL and parsed.model_id:
        # As MLflow does: a version of a logged model comes from the run that logged it.
        logged_by = logged_models.get_logged_model(session, parsed.model_id).source_run_id
        if run_id is not None and run_id != logged_by:
            raise InvalidInput(f"run_id {run_id!r} did not log model {parsed.model_id}")
        run_id = logged_by
    created = service.create_model_version(
        session,
        blobs,
        name,
        by=by,
        source=source,
        run_id=run_id,
        model_id=model_id,
        run_link=run_link,
        description=description,
        tags=tags,
        project_id=project.id,
        # MLflow clients register what they logged (cloudpickle included) and load it with
        # their own client; Corridor's loaders still refuse it unless the project allows pickle.
        enforce_pickle_switch=False,
    )
    if created.status != VersionStatus.PENDING_REGISTRATION or files is None:
        return created
    stage_blobs(session, project.id, {f.digest: f.size for f in files.values()})
    fields = ManifestFields(
        flavour=MLFLOW_FLAVOUR,
        entry=MLMODEL if MLMODEL in files else None,
        source_run=created.run_id,
    )
    digest, _ = service.register_package(session, blobs, project.id, fields, files)
    return service.finish_model_version(
        session, blobs, name, created.version, package_digest=digest, by=by, project_id=project.id
    )


def download_uri(session: Session, version: ModelVersionRecord) -> str:
    """The ``mlflow-artifacts`` location of a version's files, for MLflow clients to fetch.

    A package MLflow can load through Corridor's loader is served as its written folder
    (`version_folders`), wherever it came from; anything else as its source's files.
    """
    if serves_folder(version):
        return f"mlflow-artifacts:/{version_root(version.id)}"
    source = parse_source(version.source)
    root = None
    if source.kind is SourceKind.RUN and source.run_id is not None:
        info = runs.get_run_info(session, source.run_id)
        root = f"mlflow-artifacts:/{info.experiment_id}/{source.run_id}/artifacts"
    elif source.kind is SourceKind.LOGGED_MODEL and source.model_id is not None:
        # Deleted or not: a version registered from the model still reads its files.
        root = logged_models.model_row(session, source.model_id).artifact_location
    if root is not None:
        return f"{root}/{source.path}" if source.path else root
    raise InvalidInput(
        f"version {version.version} of {version.name!r} comes from {version.source!r}, which "
        "MLflow clients cannot download; fetch it with Corridor's client"
    )
