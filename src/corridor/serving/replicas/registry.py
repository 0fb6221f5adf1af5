"""The kinds of replica, by name: one table, one factory per kind.

``inprocess``: the gateway's own process; ``process``: a worker process on this machine;
``ray``: an actor on a Ray site's cluster. A factory only builds the replica (no I/O), so the
pool can count it before it starts; `start_replica` builds and starts one. The Ray kind is
imported on first use, so a server without the Ray extra serves the other two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from corridor.errors import InvalidInput
from corridor.serving.replicas.base import Replica, ReplicaKind, ReplicaSpec


def _inprocess(spec: ReplicaSpec, public_keys: list[bytes], name: str) -> Replica:
    from corridor.serving.replicas.inprocess import InProcessReplica

    return InProcessReplica(spec, public_keys, name=name)


def _process(spec: ReplicaSpec, public_keys: list[bytes], name: str) -> Replica:
    from corridor.serving.replicas.process import ProcessReplica

    return ProcessReplica(spec, public_keys, name=name)


def _ray(spec: ReplicaSpec, public_keys: list[bytes], name: str) -> Replica:
    from corridor.serving.replicas.ray_actor import RayReplica

    return RayReplica(spec, public_keys, name=name)


FACTORIES: dict[ReplicaKind, Callable[[ReplicaSpec, list[bytes], str], Replica]] = {
    "inprocess": _inprocess,
    "process": _process,
    "ray": _ray,
}


def make_replica(spec: ReplicaSpec, public_keys: Iterable[bytes], name: str) -> Replica:
    """A replica of ``spec``'s kind, not started."""
    factory = FACTORIES.get(spec.kind)
    if factory is None:
        raise InvalidInput(f"replica kind {spec.kind!r} is not one of {', '.join(FACTORIES)}")
    return factory(spec, list(public_keys), name)


async def start_replica(
    spec: ReplicaSpec, public_keys: Iterable[bytes], name: str | None = None
) -> Replica:
    """A started replica of ``spec`` (stopped again if its start fails)."""
    replica = make_replica(spec, public_keys, name or f"{spec.version_key}#1")
    try:
        await replica.start()
    except BaseException:
        await replica.stop()
        raise
    return replica
