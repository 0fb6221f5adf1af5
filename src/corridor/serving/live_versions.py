"""One revision of a model deployment, running: its versions' pools and batchers, its scaler,
and the `LiveDeployment` the gateway calls.

`load_model_deployment` builds the running revision; it reuses the pool of any version the
previous revision ran in the same place (so a rollback to a version still warm, or a scale
change, starts nothing), and starts the others. `stop_running` takes a revision down after
the plane stopped routing to it: the scaler first, then each batcher drains what it holds,
then the pools the next revision did not take over stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from corridor.config import Settings
from corridor.errors import ConfigurationError, SignatureInvalid
from corridor.registry.manifest import Manifest
from corridor.registry.package_signing import verify_before_loading
from corridor.serving.batcher import Batcher
from corridor.serving.deployment import LiveDeployment, ServedVersion
from corridor.serving.deployments import DeploymentRow
from corridor.serving.packages import discard, package_cache
from corridor.serving.plane import DeploymentHandle
from corridor.serving.replicas.pool import ReplicaPool
from corridor.serving.runtimes.model_signatures import declared_signature, kind_of
from corridor.serving.scaler import Scaler, initial_replicas
from corridor.serving.spec import DeploymentSpec
from corridor.serving.tensors import ModelSignature
from corridor.serving.version_pools import (
    VersionPackage,
    auto_kind,
    placement_of,
    platform_of,
    replica_spec,
    resolve,
    start_pool,
    write_package,
)

if TYPE_CHECKING:
    from corridor.runtime import Runtime
    from corridor.serving.gateway.metrics import ServingMetrics
    from corridor.serving.sampling import RequestSampler

# (model, version, the placement asked for, as JSON): a pool serves exactly this.
PoolKey = tuple[str, int, str]


@dataclass
class RunningVersion:
    key: PoolKey
    pool: ReplicaPool
    batcher: Batcher
    platform: str
    manifest_signature: ModelSignature | None


@dataclass
class Running:
    """A deployment revision this process serves (``ident``: deployment id and revision)."""

    ident: tuple[str, int]
    spec: DeploymentSpec
    handle: DeploymentHandle | None
    versions: dict[PoolKey, RunningVersion] = field(default_factory=dict)
    scaler: Scaler | None = None
    # Writes sampled requests to the sampling dataset, when the deployment samples.
    flusher: asyncio.Task[None] | None = None


async def load_model_deployment(
    runtime: Runtime,
    row: DeploymentRow,
    reusable: Mapping[PoolKey, RunningVersion],
    metrics: ServingMetrics | None = None,
) -> Running:
    """Start what ``row``'s spec serves, taking over the ``reusable`` pools that match (those
    of the revision served now, and the warm ones of revisions before it)."""
    spec = row.spec
    resolved = await asyncio.to_thread(resolve, runtime.db, row.project_id, spec)
    kind, site = await asyncio.to_thread(placement_of, runtime.settings, spec.placement)
    placed = spec.placement.model_dump_json()
    replicas = initial_replicas(spec.autoscaling, spec.replicas)
    running = Running(ident=(row.id, row.revision), spec=spec, handle=None)
    try:
        for (model, version), package in resolved.packages.items():
            key: PoolKey = (model, version, placed)
            old = reusable.get(key)
            if old is not None:
                pool, platform, declared = old.pool, old.platform, old.manifest_signature
                if _rescale(spec, pool.target, replicas) != pool.target:
                    await pool.scale_to(_rescale(spec, pool.target, replicas))
            else:
                path, manifest, manifest_json = await asyncio.to_thread(
                    write_package, runtime.settings, runtime.blobs, package
                )
                platform, declared = platform_of(manifest), declared_signature(manifest)
                runs_in = auto_kind(kind, spec.placement, manifest)
                try:
                    pool = await start_pool(
                        replica_spec(package, path, manifest_json, runs_in, site, spec.placement),
                        resolved.public_keys,
                        replicas,
                    )
                except Exception:
                    await asyncio.to_thread(
                        discard_if_tampered,
                        runtime.settings,
                        package,
                        path,
                        manifest,
                        resolved.public_keys,
                    )
                    raise
            on_batch = _batch_counter(metrics, row.name, str(version))
            running.versions[key] = RunningVersion(
                key, pool, Batcher(pool, spec.batching, on_batch=on_batch), platform, declared
            )
        running.handle = handle = _handle(row, running, metrics)
    except BaseException:
        await retire(running)
        taken = {id(v.pool) for v in reusable.values()}
        await stop_pools([v for v in running.versions.values() if id(v.pool) not in taken])
        raise
    sampler = handle.sampler
    if sampler is not None:
        from corridor.serving.sampling import run_flusher

        running.flusher = asyncio.get_running_loop().create_task(
            run_flusher(runtime, sampler), name=f"serving-samples-{row.name}"
        )
    if spec.autoscaling is not None:
        running.scaler = scaler = Scaler(row.name, spec.autoscaling)
        for v in running.versions.values():
            scaler.add(f"{v.key[0]}/{v.key[1]}", v.pool, v.batcher)
        scaler.start()
    return running


def discard_if_tampered(
    settings: Settings,
    package: VersionPackage,
    path: Path,
    manifest: Manifest,
    public_keys: list[bytes],
) -> None:
    """After a failed start: remove the package's folder if it no longer verifies (edited on
    disk, half copied by hand), so that the next try writes it again instead of failing the
    same way; a folder that verifies stays, as other deployments may be running from it."""
    try:
        verify_before_loading(path, manifest, public_keys)
    except SignatureInvalid:
        discard(package_cache(settings), package.digest)


def _rescale(spec: DeploymentSpec, current: int, replicas: int) -> int:
    """The count a reused pool moves to: the spec's, or within the autoscaling bounds."""
    if spec.autoscaling is None:
        return replicas
    return min(max(current, spec.autoscaling.min_replicas), spec.autoscaling.max_replicas)


def _batch_counter(
    metrics: ServingMetrics | None, deployment: str, version: str
) -> Callable[[int], None] | None:
    if metrics is None:
        return None

    def observe(rows: int) -> None:
        metrics.observe_batch(deployment, version, rows)

    return observe


def report_gauges(metrics: ServingMetrics, name: str, running: Running) -> None:
    """Set the queue-depth and replica gauges of ``running``'s versions (the controller does,
    every poll: gauges need no per-request work)."""
    for (_, version, _), v in running.versions.items():
        metrics.set_queue_depth(name, str(version), v.batcher.queued)
        metrics.set_replicas(name, str(version), len(v.pool.replicas))


def _handle(row: DeploymentRow, running: Running, metrics: ServingMetrics | None) -> LiveDeployment:
    spec = row.spec
    served: dict[tuple[str, int], ServedVersion] = {}
    for (model, version, _), v in running.versions.items():
        signature = v.pool.signature or v.manifest_signature
        if signature is None:
            raise ConfigurationError(
                f"version {version} of {model!r} declares no tensor signature and no replica "
                "has loaded it yet to learn one; deploy it with at least one replica"
            )
        served[(model, version)] = ServedVersion(
            model=model,
            version=version,
            signature=signature,
            kind=v.pool.kind or kind_of(signature),
            platform=v.platform,
            pool=v.pool,
            batcher=v.batcher,
        )
    shadow = spec.shadow
    return LiveDeployment(
        name=row.name,
        project_id=row.project_id,
        deployment_id=row.id,
        spec=spec,
        versions={r.version: served[(r.model, r.version)] for r in spec.routes},
        shadow=served[(shadow.model, shadow.version)] if shadow is not None else None,
        metrics=metrics,
        sampler=_sampler(row, served[(spec.routes[0].model, spec.routes[0].version)].kind),
    )


def _sampler(row: DeploymentRow, kind: str) -> RequestSampler | None:
    sampling = row.spec.sampling
    if sampling.rate <= 0:
        return None
    # Imported only by a deployment that samples: writing samples needs the data slice.
    from corridor.serving.sampling import RequestSampler

    return RequestSampler(
        sampling.rate, sampling.dataset, row.project_id, deployment=row.name, kind=kind
    )


async def retire(running: Running) -> list[RunningVersion]:
    """Take ``running`` (no longer in the plane) out of service: its scaler and sampler stop,
    its mirrors and batchers answer what they hold. Its pools keep running; returned, for the
    caller to keep warm or stop."""
    if running.scaler is not None:
        await running.scaler.stop()
    if running.flusher is not None:  # cancelling it writes what is left
        running.flusher.cancel()
        await asyncio.gather(running.flusher, return_exceptions=True)
    handle = running.handle
    if isinstance(handle, LiveDeployment):
        await handle.recorder.drain()
    await asyncio.gather(
        *(v.batcher.close() for v in running.versions.values()), return_exceptions=True
    )
    return list(running.versions.values())


async def stop_pools(versions: Iterable[RunningVersion]) -> None:
    """Stop each version's pool (each pool once)."""
    pools = {id(v.pool): v.pool for v in versions}
    await asyncio.gather(*(pool.stop() for pool in pools.values()), return_exceptions=True)


async def stop_running(running: Running) -> None:
    """Retire ``running`` and stop all its pools."""
    await stop_pools(await retire(running))
