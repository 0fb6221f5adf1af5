"""``client.map``: items cut into chunks, one function job per chunk, results gathered back.

One job per item would spend more on submitting, placing and starting workers than on trivial
items, so items travel in chunks: by default as many jobs as the sites have room for at once
(``max_parallel``, or the free CPUs of the sites divided by the CPUs a job asks for), so that
the map runs in one wave, at most ``MAX_TARGET_JOBS``; one item per job for a small map. The
worker runs the function on each item of its chunk and records each item's value or error, so
one bad item fails only itself.

Gathering waits on several jobs at once (a few threads, each on the server's long poll), so
results arrive as jobs end, and yields them in item order or as completed. When the caller stops
early (an item's error, ``break``, a closed generator), the jobs not yet finished are cancelled.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corridor.client.job_future import JobFailed, JobFuture
from corridor.compute.sansio import payload, payload_datasets
from corridor.compute.sansio.states import JobState
from corridor.compute.schemas import MAX_BATCH_JOBS
from corridor.errors import CorridorError, InvalidInput

if TYPE_CHECKING:
    from corridor.client.compute import ComputeClient

TARGET_JOBS = 32  # when the sites' room is not known
MAX_TARGET_JOBS = 1024
# Jobs waited on at once: each holds one long-poll request open on the server.
WAITERS = 8
MAX_CHUNK_ITEMS = 100_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Chunk:
    first: int
    count: int


@dataclass
class MapRun:
    """The chunks of one map over ``items``, and how many jobs may be in flight at once."""

    items: list[object]
    chunks: list[_Chunk]
    max_parallel: int | None

    @classmethod
    def plan(
        cls,
        items: list[object],
        *,
        chunk_size: int | None,
        max_parallel: int | None,
        target_jobs: int = TARGET_JOBS,
    ) -> MapRun:
        if chunk_size is not None and not 1 <= chunk_size <= MAX_CHUNK_ITEMS:
            raise InvalidInput(f"chunk_size must be between 1 and {MAX_CHUNK_ITEMS}")
        if max_parallel is not None and max_parallel < 1:
            raise InvalidInput("max_parallel must be at least 1")
        jobs = max(1, min(target_jobs, max_parallel or target_jobs, MAX_TARGET_JOBS))
        size = chunk_size or max(1, math.ceil(len(items) / jobs))
        chunks = [
            _Chunk(first, min(size, len(items) - first)) for first in range(0, len(items), size)
        ]
        if len(chunks) > MAX_BATCH_JOBS:
            raise InvalidInput(
                f"{len(items)} items in chunks of {size} make {len(chunks)} jobs, more than "
                f"{MAX_BATCH_JOBS}; pass a larger chunk_size"
            )
        return cls(items, chunks, max_parallel)

    def encoded_chunks(self) -> Iterator[tuple[int, bytes, list[str]]]:
        """Per chunk: its first index, its input payload and the datasets its items read."""
        for chunk in self.chunks:
            part = self.items[chunk.first : chunk.first + chunk.count]
            yield (
                chunk.first,
                payload.encode_map_chunk(part, chunk.first),
                payload_datasets.dataset_refs(part),
            )

    def results(
        self,
        compute: ComputeClient,
        project: str,
        bodies: Sequence[Mapping[str, object]],
        *,
        ordered: bool,
        progress: bool | Progress | None,
    ) -> Iterator[object]:
        """Submit the jobs (at once, or ``max_parallel`` at a time) and yield item results."""
        if not self.chunks:
            return iter(())
        # The first batch is submitted now, so a refusal raises at the call, not at iteration.
        first = self.max_parallel or len(bodies)
        futures = [JobFuture(compute, j) for j in compute.submit_batch(project, bodies[:first])]
        return self._gather(compute, project, bodies, futures, ordered, progress)

    def _gather(
        self,
        compute: ComputeClient,
        project: str,
        bodies: Sequence[Mapping[str, object]],
        futures: list[JobFuture],
        ordered: bool,
        progress: bool | Progress | None,
    ) -> Iterator[object]:
        total = len(self.items)
        done_items = 0
        pending: dict[Future[list[payload.ItemOutcome]], int] = {}
        finished: dict[int, list[payload.ItemOutcome]] = {}
        next_chunk = 0
        with ExitStack() as stack:
            report = stack.enter_context(_reporter(progress, total))
            pool = ThreadPoolExecutor(max_workers=min(WAITERS, len(self.chunks)))
            stack.callback(_cancel_unfinished, futures)
            stack.callback(pool.shutdown, wait=False, cancel_futures=True)

            def watch(index: int) -> None:
                task = pool.submit(_outcomes, compute, futures[index], self.chunks[index])
                pending[task] = index

            for index in range(len(futures)):
                watch(index)
            while pending:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for task in ready:
                    index = pending.pop(task)
                    finished[index] = task.result()
                    done_items += self.chunks[index].count
                    report(done_items, total)
                if len(futures) < len(bodies):
                    room = len(ready)
                    more = compute.submit_batch(project, bodies[len(futures) : len(futures) + room])
                    for job in more:
                        futures.append(JobFuture(compute, job))
                        watch(len(futures) - 1)
                if ordered:
                    while next_chunk in finished:
                        yield from _values(
                            finished.pop(next_chunk), futures[next_chunk], self.chunks[next_chunk]
                        )
                        next_chunk += 1
                else:
                    for index in sorted(finished):
                        yield from _values(finished.pop(index), futures[index], self.chunks[index])


def _outcomes(
    compute: ComputeClient, future: JobFuture, chunk: _Chunk
) -> list[payload.ItemOutcome]:
    """The per-item outcomes of a chunk's job; a failed job fails each of its items."""
    job = future.wait()
    failure = future.exception() if job.state != JobState.SUCCEEDED else None
    if failure is not None:
        return [(False, failure)] * chunk.count
    data = compute.result_bytes(future.id)
    outcomes = payload.decode_map_results(data)
    if len(outcomes) != chunk.count:
        raise CorridorError(
            f"job {future.id} returned {len(outcomes)} results for {chunk.count} items"
        )
    return outcomes


def _values(
    outcomes: list[payload.ItemOutcome], future: JobFuture, chunk: _Chunk
) -> Iterator[object]:
    for offset, (ok, value) in enumerate(outcomes):
        if ok:
            yield value
        elif isinstance(value, JobFailed):
            raise JobFailed(
                value.job,
                error=value.error,
                remote_traceback=value.remote_traceback,
                index=chunk.first + offset,
            )
        else:
            assert isinstance(value, payload.ItemError)
            raise JobFailed(
                future.job,
                error=f"{value.type}: {value.message}",
                remote_traceback=value.traceback,
                index=chunk.first + offset,
            )


def _cancel_unfinished(futures: list[JobFuture]) -> None:
    for future in futures:
        if future.job.state not in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
            with suppress(CorridorError):
                future.cancel()


@contextmanager
def _reporter(progress: bool | Progress | None, total: int) -> Iterator[Progress]:
    """A ``(done, total)`` callback: the caller's, a bar on a terminal's stderr, or nothing."""
    if callable(progress):
        yield progress
        return
    if progress is False or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar = Progress(
        "map",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("map", total=total)
    with bar:
        yield lambda done, _total: bar.update(task, completed=done)
