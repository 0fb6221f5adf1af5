"""The Ray executor: each attempt is a Ray task that runs the same worker as the local executor.

The task asks Ray for the job's CPUs, GPUs and memory plus the site's custom resources (which
only the site's nodes carry), so Ray puts it on one of the site's nodes; there it starts
``python -m corridor.compute.worker`` (through ``ray_guard``) with the attempt's ``CORRIDOR_*``
variables, and the worker talks to the server over HTTP with its job token, as it does
everywhere. Ray's own retries are off: an attempt that dies with its node is the server's to
retry, as a new attempt with a new token, and ``poll`` says ``lost`` as soon as Ray knows.

A gang (``workers`` > 1) first reserves a placement group of one bundle per worker, all or
nothing, then runs one task per bundle with ``CORRIDOR_JOB_RANK``, ``CORRIDOR_JOB_WORLD_SIZE``
(and ``RANK``/``WORLD_SIZE``) and a ``MASTER_ADDR``/``MASTER_PORT`` on rank 0's node for
``torch.distributed``; until every bundle fits, no rank starts.

One process joins one Ray cluster: every Ray site names the same address (``sites.py`` refuses
otherwise), and the first Ray executor opened joins it after ``ray_auth`` has checked that the
cluster demands a token. Ray tasks belong to the process that submitted them, so unlike local
workers they end when the server process ends (the server then sees their attempts lost).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO, cast

from corridor.compute import ray_auth
from corridor.compute.executors.base import Assignment, Handle, PollState
from corridor.compute.job_environment import inherited
from corridor.compute.sansio.resources import Resources
from corridor.errors import ConfigurationError

# Importing Ray replaces the logging record factory of the whole process with one that stamps
# every record with `_ray_timestamp_ns`, which Corridor's JSON logs would then print as data.
_record_factory = logging.getLogRecordFactory()
try:
    import ray
    from ray.exceptions import NodeDiedError, RayError, RayTaskError, TaskCancelledError
    from ray.util.placement_group import (
        PlacementGroup,
        placement_group,
        remove_placement_group,
    )
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
except ImportError as exc:  # a Ray site on a server installed without the extra
    raise ConfigurationError("Ray sites need the Ray client: pip install 'corridor[ray]'") from exc
finally:
    logging.setLogRecordFactory(_record_factory)

if TYPE_CHECKING:
    from corridor.compute.sites import Site
    from corridor.config import Settings

GUARD_MODULE = "corridor.compute.executors.ray_guard"
EXIT_LOST = 128 + 9  # the guard ended without saying how the worker did
NAMESPACE = "corridor"
CANCEL_GRACE_S = 12.0  # the guard's own grace (10 s) and a margin
WAIT_TICK_S = 0.25
# Ray's untyped helpers, with the types they return.
_node_ip_address = cast(Callable[[], str], ray.util.get_node_ip_address)
_nodes = cast(Callable[[], list[dict[str, Any]]], ray.nodes)


# The worker's side: what runs inside a Ray worker process on one of the site's nodes.


def _job_env(base: Mapping[str, str], rendezvous: tuple[str, int] | None) -> dict[str, str]:
    # The allowlist leaves out the cluster's token (a job that held it could run code anywhere
    # on the cluster) and the server's settings.
    env = inherited(os.environ)
    env.update(base)
    # The devices Ray gave this task, and no others (empty: no GPU visible at all).
    env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in ray.get_gpu_ids())
    if rendezvous is not None:
        env["MASTER_ADDR"], env["MASTER_PORT"] = rendezvous[0], str(rendezvous[1])
    return env


@ray.remote(max_retries=0)
def run_worker(base_env: dict[str, str], rendezvous: tuple[str, int] | None) -> int:
    """Run one worker, through its guard, to its end; the worker's exit status."""
    read_fd, write_fd = os.pipe()
    try:
        launcher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                GUARD_MODULE,
                "--parent",
                str(os.getpid()),
                "--report-fd",
                str(write_fd),
            ],
            env=_job_env(base_env, rendezvous),
            stdin=subprocess.DEVNULL,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
    finally:
        os.close(write_fd)
    launcher.wait()  # it forks the guard and returns at once
    with os.fdopen(read_fd) as reports:
        return _follow(reports)


def _follow(reports: TextIO) -> int:
    """Read the guard's reports to the end; pass a cancel (KeyboardInterrupt) on as SIGTERM."""
    guard_pid: int | None = None
    code = EXIT_LOST
    interrupted = False
    while True:
        try:
            if not interrupted:
                # Bounded waits, so that the KeyboardInterrupt of ray.cancel lands promptly.
                ready, _, _ = select.select([reports], [], [], WAIT_TICK_S)
                if not ready:
                    continue
            line = reports.readline()
        except KeyboardInterrupt:
            interrupted = True
            _stop_guard(guard_pid)
            continue
        if not line:
            return code  # the guard has ended
        word, _, value = line.strip().partition(" ")
        if word == "pid" and value.isdigit():
            guard_pid = int(value)
            if interrupted:
                _stop_guard(guard_pid)
        elif word == "exit" and value.lstrip("-").isdigit():
            code = int(value)


def _stop_guard(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


@ray.remote(num_cpus=0, max_retries=0)
def rendezvous_point() -> tuple[str, int]:
    """The address and a free port on rank 0's node, for torch.distributed's rendezvous."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        port = int(probe.getsockname()[1])
    return _node_ip_address(), port


# The server's side.

_connect_lock = threading.Lock()
_joined: str | None = None
# Nodes whose death a task's NodeDiedError told us of: Ray's node table says so only after the
# node has missed its health checks (seconds later), and a retry must not be placed there.
_lost_nodes: set[str] = set()
_NODE_ID = re.compile(r"node ID: ([0-9a-f]+)")


def join(access: ray_auth.ClusterAccess) -> None:
    """Join ``access``'s cluster once per process; a second, different address is refused."""
    global _joined
    with _connect_lock:
        if _joined is not None:
            if _joined != access.address:
                raise ConfigurationError(
                    f"this server has joined the Ray cluster at {_joined}; it cannot also join "
                    f"{access.address} (a process joins one Ray cluster)"
                )
            return
        if ray.is_initialized():
            raise ConfigurationError(
                "this process is connected to a Ray cluster Corridor did not open; "
                "let Corridor's Ray sites open it"
            )
        ray_auth.apply_driver_env(access, os.environ)
        _reload_auth_config()
        factory = logging.getLogRecordFactory()
        ray.init(
            address=access.address,
            namespace=NAMESPACE,
            log_to_driver=False,
            configure_logging=False,
        )
        logging.setLogRecordFactory(factory)
        _joined = access.address


def leave() -> None:
    """Disconnect this process from its Ray cluster (its running tasks end)."""
    global _joined
    with _connect_lock:
        if ray.is_initialized():
            ray.shutdown()
        _joined = None


def _reload_auth_config() -> None:
    """Make Ray's client read the auth settings just put in the environment: it reads them
    once, when first used, and this process may have used Ray before (a test, an open
    cluster's probe)."""
    raylet = importlib.import_module("ray._raylet")
    raylet.Config.initialize("")
    raylet.AuthenticationTokenLoader.instance().reset_cache()


@dataclass
class _Launch:
    refs: list[ray.ObjectRef[int]]
    group: PlacementGroup | None = None
    cancelled_at: float | None = None
    extra: list[ray.ObjectRef[Any]] = field(default_factory=list)


class RayExecutor:
    """Runs each attempt as Ray task(s) on the nodes that carry the site's custom resources."""

    def __init__(
        self,
        site_resources: Mapping[str, float] | None = None,
        *,
        extra_env: Mapping[str, str] | None = None,
        cancel_grace_s: float = CANCEL_GRACE_S,
    ) -> None:
        if not ray.is_initialized():
            raise ConfigurationError("join the Ray cluster (executors.ray.join) first")
        self._site_resources = {k: float(v) for k, v in (site_resources or {}).items()}
        self._extra_env = dict(extra_env or {})
        self._cancel_grace_s = cancel_grace_s
        self._launches: dict[Handle, _Launch] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_site(cls, site: Site, settings: Settings) -> RayExecutor:
        """Check the site's cluster (it must demand a token), join it, and serve the site."""
        join(ray_auth.check_cluster(site))
        return cls(
            site.resources,
            extra_env={
                "CORRIDOR_WORKER_WATTS_PER_CPU": repr(float(site.watts_per_cpu)),
                "CORRIDOR_WORKER_WATTS_PER_GPU": repr(float(site.watts_per_gpu)),
            },
        )

    def capacity(self) -> Resources | None:
        """The CPUs, memory and GPUs of the live nodes that carry all the site's resources."""
        cpus = gpus = 0.0
        memory = 0
        for node in _nodes():
            if not node.get("Alive") or node.get("NodeID") in _lost_nodes:
                continue
            have: dict[str, float] = node.get("Resources") or {}
            if any(have.get(name, 0.0) <= 0.0 for name in self._site_resources):
                continue
            cpus += float(have.get("CPU", 0.0))
            gpus += float(have.get("GPU", 0.0))
            memory += int(have.get("memory", 0))
        return Resources(cpus=cpus, memory_bytes=memory, gpus=gpus)

    def _demand(self, resources: Resources) -> dict[str, float]:
        """A bundle: one worker's resources, plus the site's (zero entries left out)."""
        bundle = {
            "CPU": resources.cpus,
            "GPU": resources.gpus,
            "memory": float(resources.memory_bytes),
            **self._site_resources,
        }
        return {k: v for k, v in bundle.items() if v > 0}

    def _task_options(self, resources: Resources) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_cpus": resources.cpus,
            "num_gpus": resources.gpus,
            "resources": dict(self._site_resources),
        }
        if resources.memory_bytes > 0:
            options["memory"] = resources.memory_bytes
        return options

    def launch(self, assignment: Assignment) -> Handle:
        handle = f"{assignment.job_id}/{assignment.attempt}"
        env = {**self._extra_env, **assignment.worker_env()}
        options = self._task_options(assignment.resources)
        name = f"corridor-{assignment.job_id}-{assignment.attempt}"
        if assignment.workers <= 1:
            ref = run_worker.options(name=name, **options).remote(env, None)
            launched = _Launch([ref])
        else:
            launched = self._launch_gang(assignment, env, options, name)
        with self._lock:
            self._launches[handle] = launched
        return handle

    def _launch_gang(
        self, assignment: Assignment, env: dict[str, str], options: dict[str, Any], name: str
    ) -> _Launch:
        world = assignment.workers
        group = placement_group(
            [self._demand(assignment.resources)] * world, strategy="PACK", name=name
        )
        # Every task below waits, queued in Ray, until the whole group is reserved.
        meeting = rendezvous_point.options(
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                group, placement_group_bundle_index=0
            )
        ).remote()
        refs = []
        for rank in range(world):
            ranked = {
                **env,
                "CORRIDOR_JOB_RANK": str(rank),
                "CORRIDOR_JOB_WORLD_SIZE": str(world),
                "RANK": str(rank),
                "WORLD_SIZE": str(world),
            }
            strategy = PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=rank)
            ref = run_worker.options(
                name=f"{name}-rank{rank}", scheduling_strategy=strategy, **options
            ).remote(ranked, cast("ray.ObjectRef[tuple[str, int] | None]", meeting))
            refs.append(ref)
        return _Launch(refs, group, extra=[meeting])

    def poll(self, handle: Handle) -> PollState:
        with self._lock:
            launched = self._launches.get(handle)
        if launched is None:
            return "running"  # launched before a restart, or already reported: the lease decides
        ready, pending = ray.wait(launched.refs, num_returns=len(launched.refs), timeout=0)
        outcomes = [_outcome(ref) for ref in ready]
        if "lost" in outcomes:
            self._end(handle, launched, cancel=bool(pending))
            return "lost"
        if pending:
            return "running"
        self._end(handle, launched, cancel=False)
        return "exited"

    def _end(self, handle: Handle, launched: _Launch, *, cancel: bool) -> None:
        with self._lock:
            self._launches.pop(handle, None)
        if cancel:
            for ref in launched.refs:
                with contextlib.suppress(RayError, ValueError):
                    ray.cancel(ref, force=True)
        if launched.group is not None:
            with contextlib.suppress(RayError, ValueError):
                remove_placement_group(launched.group)

    def cancel(self, handle: Handle) -> None:
        """Interrupt the task(s): the worker kills its job's tree and reports. Tasks still
        running after the grace period are force-cancelled, which kills the Ray worker process
        and, through the guard, everything the attempt started."""
        with self._lock:
            launched = self._launches.get(handle)
        if launched is None:
            return
        if launched.cancelled_at is None:
            launched.cancelled_at = time.monotonic()
            for ref in [*launched.extra, *launched.refs]:
                with contextlib.suppress(RayError, ValueError):
                    ray.cancel(ref, force=False)
            threading.Thread(
                target=self._finish_cancel,
                args=(handle, launched),
                name=f"cancel-{handle}",
                daemon=True,
            ).start()

    def _finish_cancel(self, handle: Handle, launched: _Launch) -> None:
        _, pending = ray.wait(
            launched.refs, num_returns=len(launched.refs), timeout=self._cancel_grace_s
        )
        for ref in pending:
            with contextlib.suppress(RayError, ValueError):
                ray.cancel(ref, force=True)
        if launched.group is not None:
            ray.wait(launched.refs, num_returns=len(launched.refs), timeout=self._cancel_grace_s)
            with contextlib.suppress(RayError, ValueError):
                remove_placement_group(launched.group)

    def close(self) -> None:
        """Forget the launches; the process stays joined to the cluster (see ``leave``)."""
        with self._lock:
            self._launches.clear()


def _outcome(ref: ray.ObjectRef[int]) -> PollState:
    """How a finished task ended: ``exited`` when the worker ran to its end (or was cancelled
    on purpose), ``lost`` when Ray lost the task's worker or node underneath it."""
    try:
        ray.get(ref, timeout=0)
    except TaskCancelledError:
        return "exited"
    except RayTaskError:
        return "exited"  # the task's own code failed (the guard could not start): no report
    except NodeDiedError as exc:
        found = _NODE_ID.search(str(exc))
        if found is not None:
            _lost_nodes.add(found.group(1))
        return "lost"
    except RayError:
        return "lost"  # node died, worker crashed, owner or object lost
    return "exited"
