"""Hand a version's data to work on it: the consumption rules first, then the bytes.

Polars scans Parquet lazily from a local file, so a version's blob is decrypted (verified chunk
by chunk) into the operation's workspace and scanned from there; the workspace removes it when
the operation ends. Every path by which data leaves the store for other work (downloads,
cleaning, masking, joins, copies) goes through `consume`, which applies the gate and the
masking rule for the project the data is going to.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy.orm import Session

from corridor.data import datasets as ds
from corridor.data.limits import DataLimits
from corridor.data.sansio.refs import DatasetRef, parse_ref
from corridor.data.sansio.sensitivity import Sensitivity, check_consumption
from corridor.data.staging import Workspace
from corridor.errors import Conflict, InvalidInput
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.store.blobs import BlobStore

COPY_BYTES = 1 << 20
_ORDER = list(Sensitivity)


def workspace(limits: DataLimits) -> Workspace:
    """A fresh workspace for one operation, under the slice's workspace root."""
    return Workspace(limits.tmp_root)


def consume(resolved: ds.Resolved, consumer: Project | str) -> ds.Resolved:
    """Return ``resolved`` if work in ``consumer`` may read it; raise the rule's error if not."""
    name = consumer if isinstance(consumer, str) else consumer.name
    check_consumption(resolved.facts, name)
    return resolved


def materialise(blobs: BlobStore, resolved: ds.Resolved, space: Workspace) -> Path:
    """The version's Parquet as a local file in ``space`` (decrypted and verified)."""
    path = space.file(f"{resolved.version.id}.parquet")
    if not path.stat().st_size:  # a workspace file starts empty; a Parquet file never is
        with blobs.open(resolved.version.digest) as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst, COPY_BYTES)
    return path


def scan(blobs: BlobStore, resolved: ds.Resolved, space: Workspace) -> pl.LazyFrame:
    return pl.scan_parquet(materialise(blobs, resolved, space))


def resolve_refs(
    session: Session, acting: Project, refs: Mapping[str, str], principal: Principal
) -> dict[str, ds.Resolved]:
    """Resolve named references (``{"customers": "crm/customers@2"}``) for joins and keys."""
    return {
        name: ds.resolve(session, acting, parse_ref(ref), principal) for name, ref in refs.items()
    }


def resolve_target(acting: Project, output: str | None, default: str) -> DatasetRef:
    """Where derived data goes: ``[project/]name`` (no version), default ``default``."""
    if output is None:
        return DatasetRef(default, None, acting.name)
    ref = parse_ref(output)
    if ref.version is not None or "@" in output:
        raise InvalidInput(f"output {output!r} names a version; name the dataset only")
    return ref.in_project(acting.name)


@dataclass(frozen=True)
class Derivation:
    """Defaults a derived version takes from the versions it is made from."""

    sensitivity: Sensitivity
    regions: list[str]
    masked: bool


def derive(inputs: list[ds.Resolved]) -> Derivation:
    """The most sensitive input's class, the inputs' shared regions, and whether the result
    counts as masked (every restricted input was, and at least one input was)."""
    levels = [Sensitivity(r.version.sensitivity) for r in inputs]
    sensitivity = max(levels, key=_ORDER.index) if levels else Sensitivity.INTERNAL
    region_sets = [set(r.version.regions) for r in inputs if r.version.regions]
    regions = sorted(set.intersection(*region_sets)) if region_sets else []
    if region_sets and not regions:
        labels = ", ".join(r.label for r in inputs if r.version.regions)
        raise Conflict(
            f"{labels} are pinned to regions that do not overlap; the result could live nowhere"
        )
    masked = any(r.version.masked for r in inputs) and all(
        r.version.masked or r.version.sensitivity != Sensitivity.RESTRICTED for r in inputs
    )
    return Derivation(sensitivity, regions, masked)
