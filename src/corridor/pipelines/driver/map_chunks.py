"""Map chunks: cutting a map's missing items into chunk jobs, and reading a chunk's results.

As many chunks as the sites have room for at once (their free CPUs over the CPUs the step asks
for), at least one, at most 1024, so the map runs in one wave; and small enough that a chunk's
begin entries (which the server must receive in one request, its job on the first of them) fit
the server's request limit, learnt from its first refusal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corridor.errors import CorridorError, InvalidInput
from corridor.pipelines import artifacts
from corridor.pipelines.driver.job_steps import ITEMS_FUNCTION, job_body
from corridor.pipelines.driver.link import b64, size_of
from corridor.pipelines.driver.outputs import Outcome, encoded
from corridor.pipelines.sansio.graph import Node
from corridor.pipelines.schemas import StepBegin, StepFinish

if TYPE_CHECKING:
    from corridor.pipelines.driver.runner import Runner

MAX_CHUNKS = 1024
TARGET_CHUNKS = 32  # when the sites' room is not known


@dataclass
class MapState:
    """A map being run: its items, their begin entries and how each ended."""

    node: Node
    entry: StepBegin
    items: list[object]
    entries: list[StepBegin]
    fixed: tuple[list[object], dict[str, object]]
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    done: bool = False


def plan_chunks(runner: Runner, state: MapState, misses: list[int], room: int) -> list[StepBegin]:
    """The begin entries of the missing items, cut into chunks, each chunk's job on its
    first entry."""
    if not misses:
        return []
    per_entry = max(size_of(state.entries[i]) for i in misses) + 64
    fit = max(1, (runner.link.body_budget // 2) // per_entry)
    chunks = max(1, min(room, MAX_CHUNKS, len(misses)))
    size = max(1, math.ceil(len(misses) / chunks))
    size = min(size, fit) if math.ceil(len(misses) / fit) <= MAX_CHUNKS else size
    args, kwargs = state.fixed
    node = state.node
    planned: list[StepBegin] = []
    for first in range(0, len(misses), size):
        part = misses[first : first + size]
        group = f"{node.key}@{part[0]}"
        contiguous = part[-1] - part[0] == len(part) - 1
        items = [state.items[i] for i in part]
        body = job_body(
            runner.run,
            node,
            key=node.key,
            function=ITEMS_FUNCTION,
            call_args=[node.module, node.qualname, items, kwargs, part[0] if contiguous else None],
            snapshot=runner.run.snapshot,
            name=state.entries[part[0]].key,
        )
        if args:
            raise InvalidInput(f"step {node.step!r}.map(...) takes fixed keyword arguments only")
        for n, i in enumerate(part):
            update: dict[str, Any] = {"job_group": group}
            if n == 0:
                update["job"] = body
            planned.append(state.entries[i].model_copy(update=update))
    return planned


def room_for(runner: Runner, cpus: float) -> int:
    """How many jobs of ``cpus`` CPUs the run's sites could start now (at least 1)."""
    try:
        sites = runner.link.sites()
    except CorridorError:
        return TARGET_CHUNKS
    site = runner.run.site
    room = sum(
        int((s.capacity.cpus - s.used.cpus) // cpus)
        for s in sites
        if s.up and (site is None or s.name == site)
    )
    return room if room > 0 else 1


def item_result(key: str, result: object) -> tuple[StepFinish, Outcome, object]:
    """An item's finish entry, outcome and value from its chunk job's result entry."""
    if isinstance(result, dict) and "value" in result:
        storable, data = encoded(result["value"], where=f"step {key!r}")
        kind = artifacts.kind_of(storable)
        finish = StepFinish(key=key, state="succeeded", output_b64=b64(data), output_kind=kind)
        return finish, Outcome("succeeded", artifacts.digest(data), kind), storable
    error = str(result.get("error") if isinstance(result, dict) else result)[:65_536]
    trace = result.get("traceback") if isinstance(result, dict) else None
    trace = str(trace)[-262_144:] if trace else None
    finish = StepFinish(key=key, state="failed", error=error, traceback=trace)
    return finish, Outcome("failed", error=error, traceback=trace), None
