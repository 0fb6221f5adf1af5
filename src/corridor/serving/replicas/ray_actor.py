"""The model in a Ray actor on a Ray site's cluster.

Joining: a replica whose spec names a ``ray_site`` joins that site's cluster through the compute
slice's own path (`corridor.compute.ray_auth.check_cluster`, which refuses a cluster that does
not demand a token, then `corridor.compute.executors.ray.join`, once per process); without a
site it uses the cluster this process has already joined (a Ray site's executor joins it).

Placement: the actor asks for ``resources["CPU"]`` (default 1) and ``resources["GPU"]`` (default
0) plus the site's custom resources, which only the site's nodes carry, as a job's task does. It
belongs to this process: it ends when the server disconnects, as Ray tasks of jobs do.

The package: the actor loads the folder at the package's path when that folder exists where the
actor runs (a cluster on this machine, or a shared file system); otherwise it fetches the
folder's files, put once into the object store by this process as a ``{path: bytes}`` dict,
and writes them to a temporary folder. Either way `load_served_model` verifies the folder's
signature against the trusted keys before reading it, so a stale or altered folder at the same
path is refused, never loaded.

Calls: ``await actor.infer.remote(batch)`` with the batch's NumPy arrays. Ray's transport uses
pickle (protocol 5, arrays as out-of-band buffers) for its own messages between this process
and its workers; that is Ray's wire format between processes that already trust each other,
not the loading of a model, and no package file is ever unpickled. Ray runs an actor's calls
one at a time (one thread), so batches of one replica are predicted in order, and
``outstanding`` counts those sent and not answered. An actor that died (its process or node
was lost) raises `ReplicaCrashed`, so the pool sends its batches to another replica and starts
a new actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from corridor.compute import ray_auth
from corridor.compute.executors import ray as ray_executor
from corridor.errors import ConfigurationError, CorridorError, Unavailable
from corridor.registry.manifest import MANIFEST_FILE_NAME, check_package_path
from corridor.registry.package_signing import SIGNATURE_FILE_NAME
from corridor.serving.replicas.base import ModelFailed, ReplicaCrashed, ReplicaSpec
from corridor.serving.replicas.loading import (
    cpu_threads,
    device_of,
    load_model,
    predict_checked,
    signature_from_json,
    signature_to_json,
)
from corridor.serving.runtimes.base import ModelKind, ServedModel
from corridor.serving.tensors import Batch, ModelSignature

# Importing Ray replaces the process's log record factory (see the compute executor): keep ours.
_record_factory = logging.getLogRecordFactory()
try:
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError
finally:
    logging.setLogRecordFactory(_record_factory)

PING_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 5.0
STALL_S = 120.0  # holding batches with no answer for this long: judged hung, as a worker is


class ModelActor:
    """What runs inside the actor: one loaded model."""

    def __init__(
        self,
        path: str,
        files: list[Any],
        manifest_json: bytes,
        public_keys: list[bytes],
        threads: int | None,
        device: str,
        what: str,
    ) -> None:
        self._what = what
        self._scratch: Path | None = None
        folder = Path(path)
        if not folder.is_dir():
            # ``files`` is ``[ObjectRef]``: in a list, Ray leaves it unfetched until here.
            folder = self._scratch = Path(tempfile.mkdtemp(prefix="corridor-replica-"))
            _write_files(folder, ray.get(files[0]))
        self._model: ServedModel = load_model(
            folder, manifest_json, public_keys, threads=threads, device=device
        )

    def describe(self) -> dict[str, Any]:
        return {"signature": signature_to_json(self._model.signature), "kind": self._model.kind}

    def infer(self, inputs: Batch) -> Batch:
        return predict_checked(self._model, inputs, self._what)

    def ping(self) -> int:
        """The actor's process id (it is alive)."""
        return os.getpid()

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


_RemoteModelActor = ray.remote(max_restarts=0, max_task_retries=0)(ModelActor)


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        # Package paths are checked (relative, no ``..``); the two files a download adds are not
        # package paths but are known by name.
        if relative not in (MANIFEST_FILE_NAME, SIGNATURE_FILE_NAME):
            check_package_path(relative)
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def read_package(folder: Path) -> dict[str, bytes]:
    """Every file of the package folder, by its path inside it."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _put_package(folder: Path) -> Any:
    """The package's files in the object store (fetched only by an actor that needs them)."""
    return ray.put(read_package(folder))


def join_cluster(spec: ReplicaSpec) -> None:
    """Join the spec's site's cluster (checked as a job's is), or make sure one is joined."""
    if spec.ray_site is not None:
        ray_executor.join(ray_auth.check_cluster(spec.ray_site))
    elif not ray.is_initialized():
        raise ConfigurationError(
            f"model {spec.version_key}: a Ray replica needs a Ray site (placement.site naming a "
            'site with executor = "ray" in corridor.toml)'
        )


def actor_options(spec: ReplicaSpec) -> dict[str, Any]:
    """The actor's demand: its CPUs, GPUs and memory, plus the site's custom resources."""
    wanted = dict(spec.resources)
    custom = {k: float(v) for k, v in (spec.ray_site.resources if spec.ray_site else {}).items()}
    custom.update({k: v for k, v in wanted.items() if k not in ("CPU", "GPU", "memory")})
    options: dict[str, Any] = {
        "num_cpus": wanted.get("CPU", 1.0),
        "num_gpus": wanted.get("GPU", 0.0),
        "resources": custom,
    }
    if wanted.get("memory"):
        options["memory"] = wanted["memory"]
    return options


class RayReplica:
    """One copy of a model version in a Ray actor."""

    def __init__(self, spec: ReplicaSpec, public_keys: Iterable[bytes], *, name: str) -> None:
        self.name = name
        self.spec = spec
        self.outstanding = 0
        self.signature = ModelSignature(inputs=(), outputs=())
        self.kind: ModelKind = "tensors"
        self._public_keys = list(public_keys)
        self._actor: Any = None
        self._dead = False
        self._progress_at = 0.0

    @property
    def actor(self) -> Any:
        """The actor's handle (None until started, and once stopped)."""
        return self._actor

    async def start(self) -> None:
        spec = self.spec
        await asyncio.to_thread(join_cluster, spec)
        files_ref = await asyncio.to_thread(_put_package, spec.package_path)
        self._actor = _RemoteModelActor.options(**actor_options(spec)).remote(
            str(spec.package_path),
            [files_ref],
            spec.manifest_json,
            self._public_keys,
            cpu_threads(spec.resources),
            device_of(spec.resources),
            spec.version_key,
        )
        try:
            described = await self._actor.describe.remote()
        except RayError as exc:
            self._dead = True
            raise _cause(exc, f"replica {self.name}: its Ray actor did not start") from None
        self.signature = signature_from_json(described["signature"])
        self.kind = "embeddings" if described.get("kind") == "embeddings" else "tensors"

    async def infer(self, inputs: Batch) -> Batch:
        actor = self._actor
        if actor is None or self._dead:
            raise ReplicaCrashed(f"replica {self.name}'s Ray actor is not running")
        if not self.outstanding:
            self._progress_at = time.monotonic()
        self.outstanding += 1
        try:
            outputs: Batch = await actor.infer.remote(inputs)
            self._progress_at = time.monotonic()
        except RayActorError as exc:
            self._dead = True
            raise ReplicaCrashed(
                f"replica {self.name}'s Ray actor died with the batch in flight: {exc}"
            ) from None
        except RayError as exc:
            raise _cause(exc, f"model {self.spec.version_key} failed on a batch") from None
        finally:
            self.outstanding -= 1
        # Arrays Ray hands back may sit read-only in its object store; callers may write.
        return {k: v if v.flags.writeable else np.array(v) for k, v in outputs.items()}

    async def healthy(self) -> bool:
        if self._actor is None or self._dead:
            return False
        if self.outstanding:
            # A ping would queue behind the batches: the answers coming back tell instead.
            return time.monotonic() - self._progress_at < STALL_S
        try:
            await asyncio.wait_for(self._actor.ping.remote(), PING_TIMEOUT_S)
        except RayActorError:
            self._dead = True
            return False
        except (RayError, TimeoutError, GetTimeoutError):
            return False
        return True

    async def stop(self) -> None:
        """Remove the actor's scratch folder and end it; idempotent."""
        actor, self._actor = self._actor, None
        self._dead = True
        if actor is None:
            return
        with contextlib.suppress(RayError, TimeoutError):
            await asyncio.wait_for(actor.close.remote(), CLOSE_TIMEOUT_S)
        with contextlib.suppress(RayError, ValueError):
            ray.kill(actor, no_restart=True)


def _cause(exc: RayError, what: str) -> CorridorError:
    """The Corridor error the actor raised, else a `ModelFailed` (or `Unavailable` for Ray's
    own failures) that says what happened."""
    cause = exc.cause if isinstance(exc, RayTaskError) else getattr(exc, "cause", None)
    if isinstance(cause, CorridorError):
        return cause
    if isinstance(exc, RayTaskError):
        return ModelFailed(f"{what}: {cause or exc}")
    return Unavailable(f"{what}: {exc}")
