"""The serving controller (the slice's lifespan hook): keeps this process's `ServingPlane` equal
to the deployments table.

It reconciles at start, every `POLL_S`, and at once when the control service of this process
commits a change (`corridor.serving.changes.notify`). One reconcile reads every deployment's
current revision in one short read transaction (in a thread), then, for each deployment that
is new or whose revision moved, starts a load of its own: resolve the versions' packages,
write their folders, start the replica pools (reusing the running pool of a version the
previous revision served in the same place, which is what makes a rollback to a warm version
instant), build the handle, and swap it into the plane. Deployments that left the table are
taken out of the plane first, then drained and stopped.

Invariants: the plane's dict is replaced whole (`ServingPlane.replace`), never mutated, so the
gateway reads it without locks; the previous revision keeps answering until the new one is up;
a deployment that fails to load is marked "failed" with the reason on its row and never stops
the others; on exit every pool is stopped. Graphs are built once every member is served.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from corridor.errors import CorridorError
from corridor.serving import changes
from corridor.serving.deployment import LiveDeployment, PendingDeployment
from corridor.serving.deployments import DeploymentRow, live, set_status
from corridor.serving.graph_runtime import GraphDeployment, graph_signature
from corridor.serving.live_versions import (
    PoolKey,
    Running,
    RunningVersion,
    load_model_deployment,
    report_gauges,
    retire,
    stop_pools,
    stop_running,
)
from corridor.serving.plane import DeploymentHandle, ServingPlane, plane_for
from corridor.serving.sansio.graphs import members_of
from corridor.serving.spec import SequenceGraph

if TYPE_CHECKING:
    from corridor.runtime import Runtime

log = logging.getLogger("corridor.serving")

POLL_S = 0.5
# A deployment that failed to load is tried again after this long (its row may be unchanged
# while what it needs, a package or a site, comes back).
RETRY_FAILED_S = 30.0
# The pools of a version a redeploy stopped serving stay up this long, so that a rollback to it
# starts nothing.
WARM_S = 300.0


class Controller:
    """Reconciles one runtime's plane with the deployments table."""

    def __init__(self, runtime: Runtime, plane: ServingPlane, *, poll_s: float = POLL_S) -> None:
        self.runtime = runtime
        self.plane = plane
        self.poll_s = poll_s
        self.running: dict[str, Running] = {}
        self.loading: dict[str, tuple[tuple[str, int], asyncio.Task[None]]] = {}
        self.failed: dict[str, tuple[tuple[str, int], float, str]] = {}
        # Per deployment, the pools of versions it served before, kept up until a deadline.
        self.warm: dict[str, dict[PoolKey, tuple[RunningVersion, float]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._token: int | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def wake() -> None:
            loop.call_soon_threadsafe(self._wake.set)

        self._token = changes.subscribe(wake)
        self._task = loop.create_task(self._run(), name="serving-controller")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._token is not None:
            changes.unsubscribe(self._token)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for _, task in self.loading.values():
            task.cancel()
        await asyncio.gather(*(t for _, t in self.loading.values()), return_exceptions=True)
        self.loading.clear()
        running, self.running = self.running, {}
        warm, self.warm = self.warm, {}
        self.plane.replace({})
        await asyncio.gather(*(stop_running(r) for r in running.values()), return_exceptions=True)
        await stop_pools(v for kept in warm.values() for v, _ in kept.values())

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:  # the database away for a moment: the next poll tries again
                log.exception("serving: reconciling deployments failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def reconcile(self) -> None:
        rows = await asyncio.to_thread(self._read)
        wanted = {row.name: row for row in rows}
        for name in [n for n in self.loading if n not in wanted]:
            self.loading.pop(name)[1].cancel()
        gone = [n for n in {*self.running, *self.plane.deployments} if n not in wanted]
        for row in rows:
            ident = (row.id, row.revision)
            current = self.running.get(row.name)
            if current is not None and current.ident == ident:
                if current.handle is None and row.spec.graph is not None:
                    self._build_graph(row, current)
                continue
            loading = self.loading.get(row.name)
            if loading is not None:
                if loading[0] == ident:
                    continue
                loading[1].cancel()
            failed = self.failed.get(row.name)
            if failed is not None and failed[0] == ident and time.monotonic() < failed[1]:
                continue
            if row.name not in self.running:
                self._pending(row, "is loading: its replicas are starting; retry in a moment")
            task = asyncio.get_running_loop().create_task(self._load(row))
            self.loading[row.name] = (ident, task)
        for name in gone:
            self.failed.pop(name, None)
        if gone:
            self._swap(remove=gone)
            stopped = [self.running.pop(n) for n in gone if n in self.running]
            for name in gone:
                self.plane.metrics.forget(name)
            await asyncio.gather(*(stop_running(r) for r in stopped), return_exceptions=True)
        await self._cool(gone)
        for name, running in self.running.items():
            report_gauges(self.plane.metrics, name, running)

    def _read(self) -> list[DeploymentRow]:
        with self.runtime.db.read() as session:
            return live(session)

    async def _load(self, row: DeploymentRow) -> None:
        ident = (row.id, row.revision)
        try:
            await self._status(row, "loading", "starting replicas")
            if row.spec.graph is not None:
                previous = self.running.get(row.name)
                running = Running(ident=ident, spec=row.spec, handle=None, versions={})
                self.running[row.name] = running
                if not self._build_graph(row, running) and previous is None:
                    self._pending(row, "is waiting for the deployments it calls to load")
                if previous is not None:
                    await stop_running(previous)
            else:
                previous = self.running.get(row.name)
                warm = self.warm.setdefault(row.name, {})
                reusable = {key: v for key, (v, _) in warm.items()}
                reusable.update(previous.versions if previous is not None else {})
                running = await load_model_deployment(
                    self.runtime, row, reusable, self.plane.metrics
                )
                self.running[row.name] = running
                self._swap(add={row.name: running.handle} if running.handle else {})
                # The model's objects (and the libraries it imported) live as long as it is
                # served: keep them out of the collector's full passes, which otherwise walk
                # every one of them (about 600,000 with a torch model and transformers
                # imported: a 330 ms pause of the event loop, at every full pass, under load;
                # 1 ms once frozen). Freezing is O(1); objects freed later by reference
                # counting are freed as usual.
                gc.freeze()
                await self._keep_warm(row.name, running, previous)
                await self._status(row, "ready")
            self.failed.pop(row.name, None)
            self._wake.set()  # a graph over it may be waiting for it
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = (
                exc.message if isinstance(exc, CorridorError) else f"{type(exc).__name__}: {exc}"
            )
            log.warning(
                "serving: deployment %s revision %d failed to load: %s",
                row.name,
                row.revision,
                reason,
            )
            self.failed[row.name] = (ident, time.monotonic() + RETRY_FAILED_S, reason)
            if row.name not in self.running:  # nothing older to keep serving
                self._pending(row, f"failed to load: {reason}")
            await self._status(row, "failed", reason)
        finally:
            current = self.loading.get(row.name)
            if current is not None and current[0] == ident:
                del self.loading[row.name]

    async def _keep_warm(self, name: str, running: Running, previous: Running | None) -> None:
        """Retire ``previous`` and keep its pools ``running`` did not take over warm."""
        taken = {id(v.pool) for v in running.versions.values()}
        warm = self.warm.setdefault(name, {})
        for key in [k for k, (v, _) in warm.items() if id(v.pool) in taken]:
            del warm[key]
        if previous is None:
            return
        until = time.monotonic() + WARM_S
        replaced = []
        for v in await retire(previous):
            if id(v.pool) in taken:
                continue
            if v.key in warm and warm[v.key][0].pool is not v.pool:
                replaced.append(warm[v.key][0])
            warm[v.key] = (v, until)
        await stop_pools(replaced)

    async def _cool(self, gone: list[str]) -> None:
        """Stop the warm pools past their time, and every one of a deployment that is gone."""
        now = time.monotonic()
        expired: list[RunningVersion] = []
        for name, warm in list(self.warm.items()):
            if name in self.loading:  # the load may be taking one of them over
                continue
            for key, (v, until) in list(warm.items()):
                if name in gone or until <= now:
                    expired.append(v)
                    del warm[key]
            if not warm:
                del self.warm[name]
        if expired:
            await stop_pools(expired)

    def _served(self, name: str) -> DeploymentHandle | None:
        """``name``'s handle if it is loaded (not pending)."""
        running = self.running.get(name)
        return running.handle if running is not None else None

    def _pending(self, row: DeploymentRow, why: str) -> None:
        pending = PendingDeployment(
            name=row.name, project_id=row.project_id, deployment_id=row.id, spec=row.spec, why=why
        )
        self._swap(add={row.name: pending})

    def _build_graph(self, row: DeploymentRow, running: Running) -> bool:
        """Serve ``row``'s graph if every member is served; whether it is."""
        graph = row.spec.graph
        assert graph is not None
        try:
            signature = graph_signature(graph, self._served)
        except CorridorError:
            return False  # a member is not served yet: the next reconcile tries again
        # What it answers with: the last step's outputs, or (ensemble, switch) a member's.
        last = graph.steps[-1] if isinstance(graph, SequenceGraph) else members_of(graph)[0]
        answering = self._served(last)
        running.handle = handle = GraphDeployment(
            name=row.name,
            project_id=row.project_id,
            deployment_id=row.id,
            graph=graph,
            lookup=self.plane.get,
            signature=signature,
            kind=answering.kind if answering is not None else "tensors",
        )
        self._swap(add={row.name: handle})
        task = asyncio.get_running_loop().create_task(self._status(row, "ready"))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
        return True

    def _swap(
        self, *, add: dict[str, DeploymentHandle] | None = None, remove: list[str] | None = None
    ) -> None:
        deployments = dict(self.plane.deployments)
        for name in remove or ():
            deployments.pop(name, None)
        deployments.update(add or {})
        self.plane.replace(deployments)

    async def _status(self, row: DeploymentRow, status: str, message: str = "") -> None:
        def write() -> None:
            with self.runtime.db.write() as session:
                set_status(session, row.id, status, message, revision=row.revision)

        try:
            await asyncio.to_thread(write)
        except Exception:  # a status is for people; serving goes on without it
            log.exception("serving: recording the status of deployment %s failed", row.name)


_CONTROLLERS: weakref.WeakKeyDictionary[Runtime, Controller] = weakref.WeakKeyDictionary()


def controller_of(runtime: Runtime) -> Controller | None:
    """The controller serving ``runtime`` in this process, if one runs (for status and tests)."""
    return _CONTROLLERS.get(runtime)


def shadow_report(runtime: Runtime, name: str) -> dict[str, Any] | None:
    """What deployment ``name``'s shadow saw in this process (counters and the recent
    comparisons of both answers), or None if it is not served here or has no shadow."""
    controller = controller_of(runtime)
    handle = controller.plane.get(name) if controller is not None else None
    if not isinstance(handle, LiveDeployment) or handle.spec.shadow is None:
        return None
    return handle.recorder.report()


@asynccontextmanager
async def serving(runtime: Runtime) -> AsyncIterator[None]:
    """Serve the deployments table on this process's plane while the server runs."""
    controller = Controller(runtime, plane_for(runtime))
    _CONTROLLERS[runtime] = controller
    await controller.start()
    try:
        yield
    finally:
        _CONTROLLERS.pop(runtime, None)
        await controller.stop()
