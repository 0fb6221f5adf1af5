"""From a deployment's spec to running replica pools: where each version's package comes from,
where its replicas run, and starting them.

`resolve` reads, in one short read transaction, each served version's package digest and
signature and the server's public keys; `materialise` writes each package folder once under the
server home (`corridor.serving.packages`); `placement_of` turns the spec's placement into a
replica kind (``auto``: the gateway's own process, unless the placement names a Ray site, or
the package is over `AUTO_PROCESS_ABOVE_BYTES`: then worker processes);
`start_pool` starts a version's `ReplicaPool` with its first replicas. Everything blocking runs
in a thread: the controller calls these from its event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from corridor.config import Settings
from corridor.errors import ConfigurationError, InvalidInput, Unavailable
from corridor.registry import service as registry
from corridor.registry.manifest import MANIFEST_FILE_NAME, Manifest
from corridor.serving.packages import materialise, package_cache, package_signature, public_keys
from corridor.serving.replicas.base import ReplicaKind, ReplicaSpec
from corridor.serving.replicas.pool import ReplicaPool
from corridor.serving.spec import DeploymentSpec, Placement
from corridor.store.blobs import BlobStore
from corridor.store.db import Database

if TYPE_CHECKING:
    from corridor.compute.sites import Site


# An ``auto`` placement runs a package bigger than this in worker processes.
AUTO_PROCESS_ABOVE_BYTES = 1 << 30


@dataclass(frozen=True)
class VersionPackage:
    """One model version a deployment serves, and the package it is served from."""

    model: str
    version: int
    digest: str
    signature: bytes | None

    @property
    def key(self) -> str:
        return f"{self.model}/{self.version}"


@dataclass(frozen=True)
class Resolved:
    packages: dict[tuple[str, int], VersionPackage]
    public_keys: list[bytes]


def served_versions(spec: DeploymentSpec) -> list[tuple[str, int]]:
    """Every (model, version) the spec runs: its routes, then its shadow."""
    found = [(r.model, r.version) for r in spec.routes]
    if spec.shadow is not None and (spec.shadow.model, spec.shadow.version) not in found:
        found.append((spec.shadow.model, spec.shadow.version))
    return found


def resolve(db: Database, project_id: str, spec: DeploymentSpec) -> Resolved:
    """The packages of the spec's versions (of ``project_id``'s models) and the keys that
    verify them, read in one transaction."""
    packages: dict[tuple[str, int], VersionPackage] = {}
    with db.read() as session:
        for model, version in served_versions(spec):
            record = registry.get_model_version(session, model, version, project_id=project_id)
            if record.package_digest is None:
                raise InvalidInput(
                    f"version {version} of {model!r} has no Corridor package, so it cannot be "
                    "served; register it from a package and deploy that version"
                )
            packages[(model, version)] = VersionPackage(
                model,
                version,
                record.package_digest,
                package_signature(session, record.package_digest),
            )
        keys = public_keys(session)
    return Resolved(packages, keys)


def write_package(
    settings: Settings, blobs: BlobStore, package: VersionPackage
) -> tuple[Path, Manifest, bytes]:
    """The package's folder under the server home, its manifest and the manifest's bytes."""
    path, manifest = materialise(
        blobs, package.digest, package_cache(settings), signature=package.signature
    )
    return path, manifest, (path / MANIFEST_FILE_NAME).read_bytes()


def placement_of(settings: Settings, placement: Placement) -> tuple[ReplicaKind, Site | None]:
    """The replica kind a placement asks for and, for Ray, the site to join."""
    kind = placement.kind
    if kind == "inprocess" or kind == "process":
        return kind, None
    from corridor.compute.site_table import current_sites

    sites = current_sites(settings)
    if placement.site is not None and placement.site not in sites:
        known = ", ".join(sorted(sites)) or "none"
        raise InvalidInput(
            f"placement site {placement.site!r} is not configured (sites: {known}); add it to "
            "corridor.toml or deploy to another site"
        )
    site = sites.get(placement.site) if placement.site is not None else None
    if kind == "auto":
        if site is None or site.executor != "ray":
            return "inprocess", None
        return "ray", site
    if site is None:
        site = next((s for s in sites.values() if s.executor == "ray"), None)
    if site is None or site.executor != "ray":
        raise ConfigurationError(
            "placement 'ray' needs a Ray site: declare one in corridor.toml "
            '([sites.NAME] executor = "ray", address = ...) and name it with --site'
        )
    return "ray", site


def auto_kind(kind: ReplicaKind, placement: Placement, manifest: Manifest) -> ReplicaKind:
    """Where an ``auto`` placement on this machine runs a package: in the server's process,
    unless its files pass `AUTO_PROCESS_ABOVE_BYTES` (then worker processes, so that a large
    model's memory and compute do not share the gateway's process)."""
    if placement.kind != "auto" or kind != "inprocess":
        return kind
    size = sum(entry.size for entry in manifest.files.values())
    return "process" if size > AUTO_PROCESS_ABOVE_BYTES else "inprocess"


def replica_spec(
    package: VersionPackage,
    path: Path,
    manifest_json: bytes,
    kind: ReplicaKind,
    site: Site | None,
    placement: Placement,
) -> ReplicaSpec:
    return ReplicaSpec(
        version_key=package.key,
        package_path=path,
        manifest_json=manifest_json,
        kind=kind,
        ray_address=site.address if site is not None else None,
        resources=dict(placement.resources),
        ray_site=site,
    )


async def start_pool(spec: ReplicaSpec, keys: list[bytes], replicas: int) -> ReplicaPool:
    """A started pool of ``replicas`` replicas (0: none until traffic asks for one); raise
    `Unavailable` with the reason if replicas were asked for and none started."""
    pool = ReplicaPool(spec, keys, replicas=replicas)
    try:
        await pool.start()
        if replicas > 0 and not pool.ready:
            raise Unavailable(pool.last_error or f"no replica of {spec.version_key} started")
    except BaseException:
        await pool.stop()
        raise
    return pool


def platform_of(manifest: Manifest) -> str:
    """The OIP platform name of a package (``corridor-torch``, ``corridor-onnx``...)."""
    return "corridor-" + manifest.flavour.removeprefix("corridor.")
