"""Drift of a deployment's traffic: its sampled requests against the model's training data.

The sample is the latest version of the deployment's sampling dataset (`corridor.serving.sampling`
writes it). The reference is the dataset version a caller names, or else the training data the
served model version's package names (its manifest's ``dataset_versions``: the lineage the
trainer records), the first one the caller may read. Both are compared with the data slice's
drift code (`corridor.data.sansio.drift.compare`: PSI and KS per numeric column, PSI over
categories per text column), on the sampled *input* columns only: the time, version and output
columns have no counterpart in training data.

Columns are paired by name (a sampled ``input_3`` with a training column ``input_3``); when no
input column's name is in the reference, numeric inputs are paired with the reference's
numeric columns in order (the flattened ``input_0..input_63`` of a ``[-1, 64]`` tensor with a
table's 64 feature columns) and a single text input with a single text column. The reply says
which pairing was used. Each side is read whole up to `MAX_ROWS` rows, evenly spaced beyond.
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import BaseModel
from sqlalchemy.orm import Session

from corridor.data import datasets as ds
from corridor.data.consumption import consume, scan, workspace
from corridor.data.limits import DataLimits
from corridor.data.sansio.drift import DriftReport, compare
from corridor.data.sansio.profile import column_kind
from corridor.data.sansio.refs import DatasetRef, parse_ref
from corridor.errors import InvalidInput, NotFound
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.serving.sample_table import FIXED
from corridor.serving.sampling import default_dataset
from corridor.serving.spec import DeploymentSpec
from corridor.store.blobs import BlobStore
from corridor.store.db import Database

MAX_ROWS = 200_000


class DeploymentDrift(BaseModel):
    """How the traffic a deployment sampled differs from its model's training data."""

    deployment: str
    sample: str  # project/dataset@version
    reference: str
    reference_from: Literal["request", "lineage"]
    rows_sample: int
    rows_reference: int
    matched_by: Literal["name", "position"]
    columns: dict[str, str]  # sampled column -> reference column
    drift: DriftReport


def deployment_drift(
    db: Database,
    blobs: BlobStore,
    limits: DataLimits,
    project: Project,
    name: str,
    *,
    by: Principal,
    reference: str | None = None,
    psi_threshold: float = 0.2,
    ks_threshold: float | None = None,
) -> DeploymentDrift:
    """Compare deployment ``name``'s latest sample with ``reference`` (a dataset reference
    such as ``train@3`` or ``team/train@3``) or, without one, its model's training data."""
    from corridor.serving.deployments import current_spec

    with db.read() as session:
        spec = current_spec(session, project, name)
        dataset = spec.sampling.dataset or default_dataset(name)
        try:
            sample = ds.resolve(session, project, DatasetRef(dataset, None), by)
        except NotFound:
            raise NotFound(
                f"deployment {name!r} has no sampled requests yet (dataset {dataset!r}): "
                "deploy it with a sampling rate above 0 and send it traffic"
            ) from None
        if reference is not None:
            ref = ds.resolve(session, project, parse_ref(reference), by)
            source: Literal["request", "lineage"] = "request"
        else:
            ref, source = _training_data(session, blobs, name, spec, by), "lineage"
    return sample_drift(
        blobs, limits, sample, ref, deployment=name, reference_from=source,
        psi_threshold=psi_threshold, ks_threshold=ks_threshold,
    )  # fmt: skip


def sample_drift(
    blobs: BlobStore,
    limits: DataLimits,
    sample: ds.Resolved,
    reference: ds.Resolved,
    *,
    deployment: str,
    reference_from: Literal["request", "lineage"] = "request",
    psi_threshold: float = 0.2,
    ks_threshold: float | None = None,
) -> DeploymentDrift:
    """Compare a sampled version's input columns with ``reference`` (both already resolved
    for the caller)."""
    if reference.project.id != sample.project.id:
        consume(reference, sample.project)
    with workspace(limits) as space:
        current, training = scan(blobs, sample, space), scan(blobs, reference, space)
        inputs = _input_columns(sample, current)
        pairs, matched_by = pair_columns(inputs, current, training)
        # Widths differ without the data drifting (float32 requests, float64 training data):
        # both sides are compared as Float64 (numbers) or String (text).
        kinds = {s: column_kind(current.collect_schema()[s]) for s in pairs}
        cur = _spread(
            current.select([_common(pl.col(s), kinds[s]) for s in pairs]),
            sample.version.row_count,
        )
        old = _spread(
            training.select([_common(pl.col(r), kinds[s]).alias(s) for s, r in pairs.items()]),
            reference.version.row_count,
        )
        report = compare(old, cur, psi_threshold=psi_threshold, ks_threshold=ks_threshold)
    return DeploymentDrift(
        deployment=deployment,
        sample=sample.label,
        reference=reference.label,
        reference_from=reference_from,
        rows_sample=sample.version.row_count,
        rows_reference=reference.version.row_count,
        matched_by=matched_by,
        columns=pairs,
        drift=report,
    )


def _training_data(
    session: Session, blobs: BlobStore, name: str, spec: DeploymentSpec, by: Principal
) -> ds.Resolved:
    from corridor.registry.lookup import model_row, version_row
    from corridor.registry.package_store import read_manifest
    from corridor.registry.references import readable_dataset_versions

    if not spec.routes:
        raise InvalidInput(
            f"deployment {name!r} is a graph and serves no single model: name the training "
            "data to compare with (reference=train@3)"
        )
    route = max(spec.routes, key=lambda r: r.weight)
    label = f"{route.model}@{route.version}"
    model = model_row(session, route.model)
    version = version_row(session, model, route.version)
    names = read_manifest(blobs, version.package_digest).dataset_versions if (
        version.package_digest
    ) else ()  # fmt: skip
    if not names:
        raise InvalidInput(
            f"model {label} names no training data (its package lists no dataset versions): "
            "name the data to compare with (reference=train@3)"
        )
    try:
        ids = readable_dataset_versions(session, names, model.project_id, by)
    except NotFound:
        ids = ()
    if not ids:
        raise NotFound(
            f"the training data of model {label} ({', '.join(names)}) is not readable by "
            f"{by.name}: name the data to compare with (reference=train@3)"
        )
    return ds.resolve_by_id(session, ids[0])


def _input_columns(sample: ds.Resolved, frame: pl.LazyFrame) -> list[str]:
    recipe = sample.version.recipe or {}
    listed = recipe.get("inputs")
    schema = frame.collect_schema()
    if isinstance(listed, list):
        return [str(c) for c in listed if str(c) in schema]
    return [c for c in schema if c not in FIXED]


def pair_columns(
    inputs: list[str], current: pl.LazyFrame, reference: pl.LazyFrame
) -> tuple[dict[str, str], Literal["name", "position"]]:
    """Which reference column each sampled input column is compared with, and how paired."""
    ref_schema, cur_schema = reference.collect_schema(), current.collect_schema()
    named = {c: c for c in inputs if c in ref_schema}
    if named:
        return named, "name"
    pairs: dict[str, str] = {}
    for kind in ("numeric", "text"):
        mine = [c for c in inputs if column_kind(cur_schema[c]) == kind]
        theirs = [c for c in ref_schema if column_kind(ref_schema[c]) == kind]
        if kind == "numeric" and mine and len(theirs) >= len(mine):
            pairs.update(zip(mine, theirs, strict=False))
        elif kind == "text" and len(mine) == 1 and len(theirs) == 1:
            pairs[mine[0]] = theirs[0]
    if not pairs:
        raise InvalidInput(
            "no sampled input column has a counterpart in the reference: sampled "
            f"{', '.join(inputs) or 'none'}; reference {', '.join(ref_schema) or 'none'}"
        )
    return pairs, "position"


def _common(column: pl.Expr, kind: str) -> pl.Expr:
    return column.cast(pl.Float64) if kind == "numeric" else column.cast(pl.String)


def _spread(frame: pl.LazyFrame, rows: int) -> pl.LazyFrame:
    """At most `MAX_ROWS` rows, evenly spaced over the whole frame."""
    step = -(-rows // MAX_ROWS) if rows > MAX_ROWS else 1
    return frame.gather_every(step) if step > 1 else frame
