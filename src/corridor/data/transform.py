"""Make new versions from existing ones: clean (with quarantine), mask, copy.

Each output is a new, immutable version with its parent, the spec that produced it and lineage
edges to every input. Outputs default to the most sensitive input's class and the inputs'
shared regions, so deriving data never quietly lowers its protection.
"""

from __future__ import annotations

import secrets
from typing import Any

import polars as pl

from corridor.data import datasets as ds
from corridor.data.consumption import Derivation, consume, derive, materialise, scan, workspace
from corridor.data.convert import finish
from corridor.data.limits import DataLimits
from corridor.data.models import DatasetMaskKey
from corridor.data.sansio import clean as cleaning
from corridor.data.sansio.pii.mask import apply_masks, load_mask_plan
from corridor.data.sansio.pii.scan import scan as pii_scan
from corridor.data.sansio.recipe import load_recipe
from corridor.data.sansio.sensitivity import check_derived_class
from corridor.data.schemas import CleanOut, CleanRequest, MaskRequest, VersionMeta
from corridor.data.staging import Progress, no_progress
from corridor.data.versions import NewVersion, Stored, store_version, store_with_side
from corridor.errors import InvalidInput
from corridor.names import MAX_NAME_LENGTH, check_name
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.store.blobs import BlobStore
from corridor.store.db import Database

QUARANTINE_SUFFIX = ".quarantine"
MASK_KEY_BYTES = 32


def _with_defaults(
    meta: VersionMeta, derived: Derivation, *, masked: bool, label: str
) -> VersionMeta:
    update: dict[str, Any] = {}
    if meta.sensitivity is None:
        update["sensitivity"] = derived.sensitivity
    else:
        check_derived_class(meta.sensitivity, derived.sensitivity, masked=masked, label=label)
    if meta.regions is None:
        update["regions"] = derived.regions
    return meta.model_copy(update=update)


def clean(
    db: Database,
    blobs: BlobStore,
    limits: DataLimits,
    source: ds.Resolved,
    frames: dict[str, ds.Resolved],
    target: tuple[Project, str],
    request: CleanRequest,
    *,
    by: Principal,
    progress: Progress = no_progress,
) -> CleanOut:
    """Apply a recipe to ``source``; write the output and its quarantined rows as versions."""
    project, name = target
    check_name("dataset", name)
    if len(name) + len(QUARANTINE_SUFFIX) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"dataset name {name!r} leaves no room for its quarantine dataset "
            f"{name + QUARANTINE_SUFFIX!r}: keep it to {MAX_NAME_LENGTH - len(QUARANTINE_SUFFIX)} "
            "characters"
        )
    recipe = load_recipe(request.recipe)
    inputs = [consume(source, project), *(consume(f, project) for f in frames.values())]
    derived = derive(inputs)
    meta = _with_defaults(request.meta, derived, masked=derived.masked, label=source.label)
    with workspace(limits) as space:
        data = scan(blobs, source, space)
        others = {n: scan(blobs, r, space) for n, r in frames.items()}
        if request.dry_run:
            return CleanOut(dry_run=True, steps=cleaning.dry_run(recipe, data, others))
        progress("cleaning", 0, None)
        result = cleaning.apply(recipe, data, others)
        out, quarantined = space.file("clean.parquet"), space.file("quarantine.parquet")
        pl.collect_all(
            [
                result.output.sink_parquet(out, compression="zstd", lazy=True),
                result.quarantine.sink_parquet(quarantined, compression="zstd", lazy=True),
            ],
            engine="streaming",
        )
        recipe_record = {
            "kind": "clean",
            "recipe": recipe.model_dump(mode="json"),
            "input": source.label,
            "frames": {n: r.label for n, r in frames.items()},
        }
        quarantine_data = finish(quarantined)

        def side_meta(output: ds.Resolved) -> VersionMeta:
            return VersionMeta(
                sensitivity=output.version.sensitivity,
                regions=list(output.version.regions),
                tags={"quarantine_of": output.label},
            )

        # One transaction: the output never exists without its quarantined rows.
        stored, quarantine = store_with_side(
            db,
            blobs,
            project,
            name,
            NewVersion(
                finish(out),
                parent_id=source.version.id,
                recipe=recipe_record,
                masked=derived.masked,
                inputs=[f.version.id for f in frames.values()],
            ),
            meta,
            (
                name + QUARANTINE_SUFFIX,
                NewVersion(
                    quarantine_data,
                    parent_id=source.version.id,
                    recipe={**recipe_record, "kind": "quarantine"},
                    masked=derived.masked,
                ),
                side_meta,
            )
            if quarantine_data.row_count
            else None,
            by=by,
            progress=progress,
        )
    with db.read() as session:
        return CleanOut(
            dry_run=False,
            steps=[],
            created=stored.created,
            version=ds.version_out(session, stored.resolved),
            quarantine=ds.version_out(session, quarantine.resolved) if quarantine else None,
            quarantined_rows=quarantine_data.row_count,
            validation=stored.validation,
        )


def project_mask_key(db: Database, blobs: BlobStore, project: Project) -> bytes:
    """The project's masking key, made on first use (kept encrypted in the blob store)."""
    with db.read() as session:
        row = session.get(DatasetMaskKey, project.id)
        digest = row.key_digest if row is not None else None
    if digest is None:
        fresh = blobs.put(secrets.token_bytes(MASK_KEY_BYTES))
        with db.write() as session:
            row = session.get(DatasetMaskKey, project.id)
            if row is None:
                session.add(DatasetMaskKey(project_id=project.id, key_digest=fresh))
                digest = fresh
            else:
                digest = row.key_digest
        if digest != fresh:  # another writer made the key first
            blobs.delete(fresh)
    with blobs.open(digest) as f:
        return f.read()


def _personal_columns(blobs: BlobStore, limits: DataLimits, source: ds.Resolved) -> set[str]:
    with workspace(limits) as space:
        return set(pii_scan(scan(blobs, source, space)).pii_columns())


def mask(
    db: Database,
    blobs: BlobStore,
    limits: DataLimits,
    source: ds.Resolved,
    target: tuple[Project, str],
    request: MaskRequest,
    *,
    by: Principal,
    progress: Progress = no_progress,
) -> Stored:
    """Write a masked copy of ``source``: every column with personal data must be covered."""
    project, name = target
    check_name("dataset", name)
    plan = load_mask_plan(request.plan)
    if not plan.rules:
        raise InvalidInput("the masking plan has no rules")
    consume(source, project)
    personal = _personal_columns(blobs, limits, source)
    covered = {rule.column for rule in plan.rules} | set(request.keep)
    missing = sorted(personal - covered)
    if missing:
        raise InvalidInput(
            f"{source.label}: the masking plan leaves columns that look like personal data "
            f"unmasked: {', '.join(missing)}; add rules for them, or list them in keep"
        )
    derived = derive([source])
    # Kept personal data is still personal data: such an output does not count as masked, so
    # the restricted-data rule and the class floor still apply to it.
    masked = not personal & set(request.keep)
    meta = _with_defaults(request.meta, derived, masked=masked, label=source.label)
    needs_key = any(rule.operator in ("hash", "tokenise") for rule in plan.rules)
    key = project_mask_key(db, blobs, source.project) if needs_key else None
    with workspace(limits) as space:
        out = space.file("masked.parquet")
        frame = apply_masks(scan(blobs, source, space), plan, key)
        frame.sink_parquet(out, compression="zstd", engine="streaming")
        return store_version(
            db,
            blobs,
            project,
            name,
            NewVersion(
                finish(out),
                parent_id=source.version.id,
                recipe={
                    "kind": "mask",
                    "plan": plan.model_dump(mode="json"),
                    "input": source.label,
                },
                masked=masked,
            ),
            meta,
            by=by,
            progress=progress,
        )


def copy(
    db: Database,
    blobs: BlobStore,
    limits: DataLimits,
    source: ds.Resolved,
    target: tuple[Project, str],
    meta: VersionMeta,
    *,
    by: Principal,
    progress: Progress = no_progress,
) -> Stored:
    """Make ``source``'s data a version of another dataset (possibly in another project)."""
    project, name = target
    check_name("dataset", name)
    consume(source, project)
    derived = derive([source])
    meta = _with_defaults(meta, derived, masked=derived.masked, label=source.label)
    with workspace(limits) as space:
        path = materialise(blobs, source, space)
        return store_version(
            db,
            blobs,
            project,
            name,
            NewVersion(
                finish(path),
                parent_id=source.version.id,
                recipe={"kind": "copy", "input": source.label},
                masked=derived.masked,
            ),
            meta,
            by=by,
            progress=progress,
        )
