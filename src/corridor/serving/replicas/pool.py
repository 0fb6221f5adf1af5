"""The replicas of one model version: pick one per batch, keep them healthy, never drop a batch.

Invariants:

- A batch goes to the healthy replica with the fewest outstanding batches (ties round-robin;
  `sansio.balancing`). Only replicas that have started and not been judged dead or draining are
  chosen; that set (``_up``) is rebuilt on every change of state, never per batch.
- A batch whose replica raised `ReplicaCrashed` (its process or actor died with the batch in
  flight, so it was never answered) is sent again, to another replica or, when none is left, to
  the restarted one once it is up, at most ``max_attempts`` times in all. Other errors (the
  model raised, the input was refused) are not retried: they would fail again.
- A dead replica is replaced at once; one that fails its health check (every
  ``health_interval_s``, by the supervisor task ``start`` begins and ``stop`` ends) too. A
  replica that cannot start is retried with a backoff (doubling up to 60 s), and the reason is
  kept in ``last_error`` for whoever asks why the pool is not ready.
- ``scale_to`` changes the target count. Members are added to (or marked draining in) the
  member list synchronously, before any await, so two concurrent reconciliations cannot both
  start the same missing replica. A draining replica takes no new batch; it is stopped once its
  outstanding batches are answered (or after ``drain_timeout_s``).
- ``ready`` when at least one replica is up. A batch that arrives when none is (scale from zero,
  or every replica restarting) waits up to ``ready_timeout_s`` (and ``on_starved`` is called,
  so an autoscaler can start one), then `Unavailable`.

Cost on the hot path: one list read, a loop over a handful of ints (skipped for one replica),
and the replica's own ``infer``; no lock (everything runs on the event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from corridor.errors import Unavailable
from corridor.serving.replicas.base import Replica, ReplicaCrashed, ReplicaSpec
from corridor.serving.replicas.registry import make_replica
from corridor.serving.runtimes.base import ModelKind
from corridor.serving.sansio.balancing import LeastOutstanding
from corridor.serving.tensors import Batch, ModelSignature

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
DRAIN_TICK_S = 0.005
MemberState = Literal["starting", "up", "draining", "stopped"]
ReplicaFactory = Callable[[ReplicaSpec, list[bytes], str], Replica]


@dataclass(eq=False)
class _Member:
    replica: Replica
    state: MemberState = "starting"


class ReplicaPool:
    """The replicas of one model version (all of the same kind, from the same package)."""

    def __init__(
        self,
        spec: ReplicaSpec,
        public_keys: Iterable[bytes],
        *,
        replicas: int = 1,
        health_interval_s: float = 5.0,
        max_attempts: int = 3,
        ready_timeout_s: float = 60.0,
        drain_timeout_s: float = 30.0,
        factory: ReplicaFactory = make_replica,
        on_starved: Callable[[], None] | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.version_key
        self.target = replicas
        self.health_interval_s = health_interval_s
        self.max_attempts = max_attempts
        self.ready_timeout_s = ready_timeout_s
        self.drain_timeout_s = drain_timeout_s
        self.on_starved = on_starved
        # What the first replica to start said; None until then.
        self.signature: ModelSignature | None = None
        self.kind: ModelKind | None = None
        self.last_error: str | None = None
        self.restarts = 0  # replicas found dead and replaced
        self.retried = 0  # batches sent again because their replica died with them
        self.waiting = 0  # batches waiting for a replica to be up
        self._public_keys = list(public_keys)
        self._factory = factory
        self._members: list[_Member] = []
        self._up: tuple[Replica, ...] = ()
        self._balancer = LeastOutstanding()
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._starting: set[asyncio.Task[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False
        self._serial = 0
        self._failures = 0
        self._retry_at = 0.0

    # What the rest of the plane reads.

    @property
    def ready(self) -> bool:
        return bool(self._up)

    @property
    def replicas(self) -> tuple[Replica, ...]:
        """The replicas that take batches now."""
        return self._up  # rebuilt on changes, so safe to hand out

    @property
    def outstanding(self) -> int:
        return sum(r.outstanding for r in self._up)

    def counts(self) -> dict[MemberState, int]:
        """How many replicas are starting, up and draining (for metrics)."""
        found: dict[MemberState, int] = {"starting": 0, "up": 0, "draining": 0}
        for member in self._members:
            found[member.state] = found.get(member.state, 0) + 1
        return found

    # Lifecycle.

    async def start(self) -> None:
        """Begin health checks and start the first replicas; return once each has started or
        failed to (a failure is kept in ``last_error`` and retried)."""
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name=f"pool-{self.name}")
        await self.scale_to(self.target)

    async def scale_to(self, replicas: int) -> None:
        """Run ``replicas`` replicas: start the missing, drain the extra; return when done."""
        self.target = max(0, replicas)
        self._retry_at = 0.0  # an explicit request retries a failed start at once
        jobs = self._reconcile()
        if jobs:
            await asyncio.gather(*jobs, return_exceptions=True)

    async def wait_ready(self, timeout_s: float) -> None:
        """Return once a replica is up; `Unavailable` (saying why) after ``timeout_s``."""
        if self._up:
            return
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            raise Unavailable(self._why_not_ready(timeout_s)) from None
        if self._closed:
            raise Unavailable(f"model {self.name} is no longer served here")

    async def stop(self) -> None:
        """Stop health checks and every replica (their outstanding batches are answered first,
        up to the drain timeout); idempotent."""
        self._closed = True
        self._ready.set()  # release waiters: they see the pool closed
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        for task in list(self._starting):
            task.cancel()  # a load may take minutes; stops and drains are left to finish
        draining = [m for m in self._members if m.state in ("up", "draining")]
        for member in draining:
            member.state = "draining"
        self._refresh()
        await asyncio.gather(*(self._drain(m) for m in draining), return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for member in list(self._members):
            with contextlib.suppress(Exception):
                await member.replica.stop()
        self._members.clear()

    # The hot path.

    async def infer(self, inputs: Batch) -> Batch:
        """Predict ``inputs`` on the least-loaded replica, again elsewhere if it died with it."""
        crashes = 0
        while True:
            up = self._up
            if not up:
                await self._wait_for_replica()
                continue
            replica = up[0] if len(up) == 1 else up[self._pick(up)]
            try:
                return await replica.infer(inputs)
            except ReplicaCrashed as exc:
                self._lost(replica, exc.message)
                crashes += 1
                if crashes >= self.max_attempts:
                    raise ReplicaCrashed(
                        f"model {self.name}: the batch was sent to {crashes} replicas and each "
                        "died with it in flight, so it is not sent again (a batch that makes "
                        "the model's process crash?): " + exc.message
                    ) from exc
                self.retried += 1

    def _pick(self, up: tuple[Replica, ...]) -> int:
        index = self._balancer.choose([r.outstanding for r in up])
        return 0 if index is None else index

    async def _wait_for_replica(self) -> None:
        if self._closed:
            raise Unavailable(f"model {self.name} is no longer served here")
        self.waiting += 1
        try:
            if self.on_starved is not None:
                self.on_starved()
            await self.wait_ready(self.ready_timeout_s)
        finally:
            self.waiting -= 1

    # Keeping the members in line with the target.

    def _reconcile(self) -> list[asyncio.Task[None]]:
        """Start or drain members to meet the target; the tasks doing it (not awaited here)."""
        if self._closed:
            return []
        live = [m for m in self._members if m.state in ("starting", "up")]
        jobs: list[Coroutine[Any, Any, None]] = []
        if len(live) < self.target and time.monotonic() >= self._retry_at:
            starts = []
            for _ in range(self.target - len(live)):
                self._serial += 1
                name = f"{self.name}#{self._serial}"
                member = _Member(self._factory(self.spec, self._public_keys, name))
                self._members.append(member)
                starts.append(self._spawn(self._start_member(member)))
            self._starting.update(starts)
            for task in starts:
                task.add_done_callback(self._starting.discard)
            return starts
        if len(live) > self.target:
            # Drain replicas still starting first, then the least busy.
            extra = sorted(live, key=lambda m: (m.state == "up", m.replica.outstanding))
            for member in extra[: len(live) - self.target]:
                if member.state == "up":
                    jobs.append(self._drain(member))
                # One still starting is stopped by its start task once it has started.
                member.state = "draining"
            self._refresh()
        return [self._spawn(job) for job in jobs]

    def _spawn(self, job: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _start_member(self, member: _Member) -> None:
        replica = member.replica
        try:
            await replica.start()
        except BaseException as exc:
            self._remove(member)
            with contextlib.suppress(Exception):
                await replica.stop()
            if isinstance(exc, Exception):
                self._failures += 1
                backoff = min(MAX_BACKOFF_S, self.health_interval_s * 2 ** (self._failures - 1))
                self._retry_at = time.monotonic() + backoff
                self.last_error = f"replica {replica.name} did not start: {exc}"
                log.warning("%s; retrying in %.0f s", self.last_error, backoff)
                return
            raise
        if self._closed or member.state != "starting":
            self._remove(member)  # stopped or scaled down while it started
            await replica.stop()
            return
        member.state = "up"
        self._failures = 0
        self.last_error = None
        self.signature, self.kind = replica.signature, replica.kind
        self._refresh()

    async def _drain(self, member: _Member) -> None:
        deadline = time.monotonic() + self.drain_timeout_s
        while member.replica.outstanding > 0 and time.monotonic() < deadline:
            await asyncio.sleep(DRAIN_TICK_S)
        self._remove(member)
        await member.replica.stop()

    def _lost(self, replica: Replica, why: str) -> None:
        """``replica`` is dead: take it out now, stop it, and have the supervisor replace it."""
        member = next((m for m in self._members if m.replica is replica), None)
        if member is None or member.state != "up":
            return  # already handled (another batch of it saw the crash first), or draining
        self._remove(member)
        self.restarts += 1
        self.last_error = f"replica {replica.name} died: {why}"
        log.warning("%s; starting another", self.last_error)
        self._spawn(replica.stop())
        self._wake.set()

    def _remove(self, member: _Member) -> None:
        member.state = "stopped"
        with contextlib.suppress(ValueError):
            self._members.remove(member)
        self._refresh()

    def _refresh(self) -> None:
        self._up = tuple(m.replica for m in self._members if m.state == "up")
        if self._up or self._closed:
            self._ready.set()
        else:
            self._ready.clear()

    async def _supervise(self) -> None:
        while not self._closed:
            try:
                await asyncio.wait_for(self._wake.wait(), self.health_interval_s)
            except TimeoutError:
                await self._check_health()
            self._wake.clear()
            self._reconcile()

    async def _check_health(self) -> None:
        members = [m for m in self._members if m.state == "up"]
        verdicts = await asyncio.gather(
            *(asyncio.wait_for(m.replica.healthy(), self.health_interval_s) for m in members),
            return_exceptions=True,
        )
        for member, verdict in zip(members, verdicts, strict=True):
            if verdict is not True:
                self._lost(member.replica, "it failed its health check")

    def _why_not_ready(self, timeout_s: float) -> str:
        if self._closed:
            return f"model {self.name} is no longer served here"
        if self.target == 0:
            return (
                f"model {self.name} has no replica (scaled to zero) and none started in "
                f"{timeout_s:g} s"
            )
        reason = f" ({self.last_error})" if self.last_error else ""
        return f"no replica of model {self.name} was ready within {timeout_s:g} s{reason}"
