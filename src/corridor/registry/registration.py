"""Registering model versions: from a package or a source, checked before anything is written.

A version is immutable once created: its files, source, run and manifest never change. A
version created ``PENDING_REGISTRATION`` (a source whose files are still being copied) gets its
package once, becoming ``READY``, or fails. Every check runs before the first write, so a
refused version leaves no row, tag or lineage edge behind.

Whatever a registration names (a run, a logged model, dataset versions, another version) must
be readable by the caller, or the registration is refused as if it named nothing
(`corridor.registry.references`). A copy (``models:/`` source) takes its parent's package as it
is: the caller can read the parent, manifest and all, so the manifest's own references are not
checked again, and the copy's lineage is ``parent -> copy`` (and its run), the rest upstream of
the parent. Whichever way a version gets its package, the package is signed in the same
transaction (`corridor.registry.signatures`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from corridor import lineage
from corridor.errors import Conflict, InvalidInput, NotFound
from corridor.registry.entities import ModelVersionRecord
from corridor.registry.lookup import model_row, version_row
from corridor.registry.manifest import FileEntry, Manifest, ManifestFields
from corridor.registry.models import ModelVersion, ModelVersionTag, RegisteredModel
from corridor.registry.package_signing import check_signable
from corridor.registry.package_store import store_manifest
from corridor.registry.pickle_rule import check_pickle_switch
from corridor.registry.records import version_record
from corridor.registry.references import (
    readable_dataset_versions,
    readable_logged_model,
    readable_run,
)
from corridor.registry.resolve import version_for
from corridor.registry.signatures import ensure_signed
from corridor.registry.source_uris import (
    Source,
    SourceKind,
    package_uri,
    parse_model_uri,
    parse_source,
    refuse,
)
from corridor.registry.uploads import check_files_staged, stage_blobs, stage_package, usable_package
from corridor.registry.validation import (
    MAX_SOURCE_LENGTH,
    MAX_STATUS_MESSAGE_LENGTH,
    Stage,
    VersionStatus,
    check_description,
    check_tag,
    now_ms,
)
from corridor.security.policy import Principal
from corridor.security.projects import can_read
from corridor.store.blobs import BlobStore, check_digest

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_MODEL_ID = re.compile(r"m-[A-Za-z0-9_-]{1,64}")


def register_package(
    session: Session,
    blobs: BlobStore,
    project_id: str,
    fields: ManifestFields,
    files: Mapping[str, FileEntry],
) -> tuple[str, Manifest]:
    """Store the manifest of files uploaded to the project; return ``(digest, manifest)``.

    Every file must have been uploaded to this project (`corridor.registry.uploads`).
    """
    files = dict(files)
    if not files:
        raise InvalidInput("a package needs at least one file")
    check_signable(files)
    check_files_staged(session, blobs, project_id, files)
    digest, manifest = store_manifest(blobs, fields, files)
    stage_blobs(session, project_id, {digest: 0})
    return digest, manifest


def _visible_version(session: Session, source: Source, by: Principal) -> ModelVersion:
    """The version a models:/ reference names, if ``by`` may read it; else `NotFound`."""
    try:
        row = version_for(session, source)
        model = session.get(RegisteredModel, row.registered_model_id)
        assert model is not None
        if not can_read(session, by, model.project_id):
            raise NotFound("hidden")
    except NotFound:
        raise NotFound(f"{source.uri} does not name a version you can read") from None
    return row


@dataclass(frozen=True)
class NewPackage:
    """Files already uploaded to the project, and what to say about them in the manifest."""

    fields: ManifestFields
    files: Mapping[str, FileEntry]


@dataclass
class _Plan:
    """What a new version will hold, worked out (and checked) before anything is written."""

    source: str
    run_id: str | None
    model_id: str | None
    package_digest: str | None = None
    manifest: Manifest | None = None
    parents: tuple[str, ...] = ()
    dataset_versions: tuple[str, ...] = ()


def _plan(
    session: Session,
    blobs: BlobStore,
    model: RegisteredModel,
    by: Principal,
    *,
    source: str | None,
    package_digest: str | None,
    run_id: str | None,
    model_id: str | None,
) -> _Plan:
    if run_id is not None and not _RUN_ID.fullmatch(run_id):
        raise InvalidInput(f"run_id {run_id!r} is not a run id")
    if model_id is not None and not _MODEL_ID.fullmatch(model_id):
        raise InvalidInput(f"model_id {model_id!r} is not a logged model id (m-...)")
    if package_digest is not None:
        check_digest(package_digest)
    if source is None and package_digest is None:
        raise InvalidInput("a version needs a source or a package")
    plan = _Plan(source=source or "", run_id=run_id, model_id=model_id)
    parsed = parse_source(source) if source is not None else None
    digest = package_digest
    if parsed is not None and parsed.kind is SourceKind.RUN:
        assert parsed.run_id is not None
        if run_id is not None and parsed.run_id != run_id:
            raise refuse(
                source, f"it points at run {parsed.run_id}'s artifacts, not run {run_id}'s"
            )
        readable_run(session, parsed.run_id, by, experiment_id=parsed.experiment_id)
        plan.run_id = parsed.run_id
    elif parsed is not None and parsed.kind is SourceKind.LOGGED_MODEL:
        assert parsed.model_id is not None
        if model_id is not None and parsed.model_id != model_id:
            raise refuse(source, f"it names logged model {parsed.model_id}, not {model_id}")
        readable_logged_model(session, parsed.model_id, by, experiment_id=parsed.experiment_id)
        plan.model_id = parsed.model_id
    elif parsed is not None and parsed.kind is SourceKind.PACKAGE:
        if digest is not None and digest != parsed.digest:
            raise refuse(source, f"it names package {parsed.digest}, not {digest}")
        digest = parsed.digest
    elif parsed is not None:
        # Another registered version: the new one holds the same package (a copy or promotion).
        parent = _visible_version(session, parsed, by)
        if parent.package_digest is None or parent.status != VersionStatus.READY:
            raise Conflict(f"{parsed.uri} is not READY, so there is no package to copy")
        if digest is not None and digest != parent.package_digest:
            raise refuse(source, f"it holds package {parent.package_digest}, not {digest}")
        digest = parent.package_digest
        plan.run_id = plan.run_id or parent.run_id
        plan.parents += (parent.id,)
        _add_package(session, blobs, model, by, plan, digest, copied=True)
        digest = None
    if run_id is not None:
        readable_run(session, run_id, by)
    if model_id is not None:
        readable_logged_model(session, model_id, by)
    if digest is not None:
        _add_package(session, blobs, model, by, plan, digest)
    if not plan.source:
        plan.source = package_uri(digest) if digest else ""
    return plan


def check_references(
    session: Session, fields: ManifestFields, project_id: str, by: Principal
) -> tuple[str, ...]:
    """Check what a manifest names (run, parent version, dataset versions) is readable by
    ``by``; return the ids of its dataset versions."""
    if fields.source_run is not None:
        readable_run(session, fields.source_run, by)
    if fields.derived_from is not None:
        _visible_version(session, parse_model_uri(fields.derived_from), by)
    return readable_dataset_versions(session, fields.dataset_versions, project_id, by)


def _add_package(
    session: Session,
    blobs: BlobStore,
    model: RegisteredModel,
    by: Principal,
    plan: _Plan,
    digest: str,
    *,
    copied: bool = False,
) -> None:
    manifest = usable_package(session, blobs, digest, project_id=model.project_id, by=by)
    plan.package_digest, plan.manifest = digest, manifest
    if copied:
        return
    plan.dataset_versions = check_references(session, manifest, model.project_id, by)
    if manifest.source_run is not None:
        if plan.run_id is not None and plan.run_id != manifest.source_run:
            raise InvalidInput(
                f"the package was made by run {manifest.source_run}, not run {plan.run_id}"
            )
        plan.run_id = manifest.source_run
    if manifest.derived_from is not None:
        parent = _visible_version(session, parse_model_uri(manifest.derived_from), by)
        plan.parents += (parent.id,)


def _record_lineage(session: Session, row: ModelVersion, plan: _Plan) -> None:
    node = lineage.Node(lineage.NodeKind.MODEL_VERSION, row.id)
    run = lineage.Node(lineage.NodeKind.RUN, plan.run_id) if plan.run_id else None
    if run is not None:
        lineage.add_edge(session, run, node)
    for parent in plan.parents:
        if parent != row.id:
            lineage.add_edge(session, lineage.Node(lineage.NodeKind.MODEL_VERSION, parent), node)
    for dataset_version in plan.dataset_versions:
        src = lineage.Node(lineage.NodeKind.DATASET_VERSION, dataset_version)
        lineage.add_edge(session, src, run or node)


def _hold_package(
    session: Session,
    blobs: BlobStore,
    row: ModelVersion,
    model: RegisteredModel,
    plan: _Plan,
    by: Principal,
) -> None:
    assert plan.package_digest is not None
    assert plan.manifest is not None
    # Signed in this transaction: a READY version never lacks its package's signature.
    ensure_signed(session, blobs, plan.package_digest, plan.manifest, by=by.name)
    row.package_digest = plan.package_digest
    row.storage_location = package_uri(plan.package_digest)
    row.flavour = plan.manifest.flavour
    row.scope = plan.manifest.scope.value
    row.derived_from = plan.manifest.derived_from
    row.status = VersionStatus.READY
    stage_package(session, model.project_id, plan.package_digest, plan.manifest)


def create_model_version(
    session: Session,
    blobs: BlobStore,
    name: str,
    *,
    by: Principal,
    source: str | None = None,
    package_digest: str | None = None,
    run_id: str | None = None,
    run_link: str | None = None,
    model_id: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    project_id: str | None = None,
    package: NewPackage | None = None,
    enforce_pickle_switch: bool = True,
) -> ModelVersionRecord:
    """Register the next version of model ``name``.

    With a package (``package_digest``, a `NewPackage` of uploaded files, or a
    ``corridor-package:`` or ``models:/`` source) the version is ``READY``; with only a run or
    logged-model source it is ``PENDING_REGISTRATION`` until `finish_model_version` gives it a
    package. ``by`` is who asks: packages and versions it names must be ones it may read.
    A pickle-based flavour is refused unless the project allows pickle
    (`corridor.registry.pickle_rule`); MLflow's routes pass ``enforce_pickle_switch=False``.
    """
    check_description(description)
    checked = [check_tag(k, v) for k, v in (tags or {}).items()]
    if run_link is not None and len(run_link) > MAX_SOURCE_LENGTH:
        raise InvalidInput(f"run_link is longer than {MAX_SOURCE_LENGTH} characters")
    if source is not None:
        parse_source(source)  # refuse a bad source before any blob is written
    model = model_row(session, name, project_id=project_id, for_update=True)
    if package is not None:
        if package_digest is not None:
            raise InvalidInput("give a package or a package_digest, not both")
        # Refuse what the manifest names before its blob is written.
        if enforce_pickle_switch:
            check_pickle_switch(session, model.project_id, package.fields.flavour)
        check_references(session, package.fields, model.project_id, by)
        package_digest, _ = register_package(
            session, blobs, model.project_id, package.fields, package.files
        )
    plan = _plan(
        session,
        blobs,
        model,
        by,
        source=source,
        package_digest=package_digest,
        run_id=run_id,
        model_id=model_id,
    )
    if enforce_pickle_switch and plan.manifest is not None:
        check_pickle_switch(session, model.project_id, plan.manifest.flavour)
    now = now_ms()
    model.last_version += 1
    model.last_updated_time = now
    row = ModelVersion(
        registered_model_id=model.id,
        version=model.last_version,
        creation_time=now,
        last_updated_time=now,
        description=description,
        user_id=by.name,
        current_stage=Stage.NONE.value,
        source=plan.source,
        run_id=plan.run_id,
        run_link=run_link,
        model_id=plan.model_id,
        status=VersionStatus.PENDING_REGISTRATION.value,
    )
    if plan.package_digest is not None:
        _hold_package(session, blobs, row, model, plan, by)
    session.add(row)
    session.flush()
    session.add_all(ModelVersionTag(model_version_id=row.id, key=k, value=v) for k, v in checked)
    _record_lineage(session, row, plan)
    session.flush()
    return version_record(session, row)


def _pending(
    session: Session, name: str, version: int | str, project_id: str | None
) -> tuple[RegisteredModel, ModelVersion]:
    model = model_row(session, name, project_id=project_id)
    row = version_row(session, model, version, for_update=True)
    if row.status != VersionStatus.PENDING_REGISTRATION:
        raise Conflict(
            f"version {row.version} of {name!r} is {row.status}; only a pending version changes"
        )
    return model, row


def finish_model_version(
    session: Session,
    blobs: BlobStore,
    name: str,
    version: int | str,
    *,
    package_digest: str,
    by: Principal,
    project_id: str | None = None,
) -> ModelVersionRecord:
    """Give a pending version its package (its source's files, copied); it becomes READY."""
    model, row = _pending(session, name, version, project_id)
    plan = _Plan(source=row.source, run_id=row.run_id, model_id=row.model_id)
    _add_package(session, blobs, model, by, plan, check_digest(package_digest))
    row.run_id = plan.run_id
    _hold_package(session, blobs, row, model, plan, by)
    row.status_message = None
    row.last_updated_time = now_ms()
    _record_lineage(session, row, plan)
    session.flush()
    return version_record(session, row)


def fail_model_version(
    session: Session, name: str, version: int | str, *, message: str, project_id: str | None = None
) -> ModelVersionRecord:
    """Mark a pending version FAILED_REGISTRATION, saying why."""
    _, row = _pending(session, name, version, project_id)
    row.status = VersionStatus.FAILED_REGISTRATION.value
    row.status_message = message[:MAX_STATUS_MESSAGE_LENGTH]
    row.last_updated_time = now_ms()
    session.flush()
    return version_record(session, row)
