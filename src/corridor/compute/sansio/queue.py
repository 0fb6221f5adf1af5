"""Queue ordering: priority with aging inside a project, weighted fair share across projects.

Aging raises a waiting job's effective priority by ``aging_per_s`` each second, so a
low-priority job is never starved by a stream of newer high-priority ones. Sorting by
``priority + aging_per_s * (now - submitted_at)`` changes with ``now``, but the order does not:
subtracting the same ``aging_per_s * now`` from every job leaves
``aging_per_s * submitted_at - priority`` (lower first), a key fixed at submit time. So each
project's queue is a heap built once, and a tick costs O(log n) per job taken, not a re-sort of
the whole queue (100,000 jobs take about 100 ms to sort in Python).

Across projects the next job comes from the project with the lowest usage per unit of weight
(weighted fair share; the deficit is charged as jobs are placed within the tick), so two
projects with weights 1 and 3 and enough work end up holding a quarter and three quarters of
the cluster.

Entries are removed lazily: a job that is dropped or replaced leaves a stale heap entry that is
skipped when it reaches the top, so removal is O(1).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from corridor.compute.sansio.resources import Resources

# A GPU is charged as this many CPUs when projects' usage is compared (a rough price ratio of
# a GPU hour to a CPU-core hour), so a GPU-heavy project does not look idle to fair share.
GPU_CPU_EQUIVALENT = 8.0


def charge(resources: Resources, workers: int = 1) -> float:
    """The fair-share usage of a job holding ``resources`` on each of ``workers`` workers.

    Callers that pass ``usage`` to the scheduler sum this over each project's placed and
    running jobs (or keep a decayed history of it), so the tick's own charges add up with it.
    """
    return workers * (resources.cpus + GPU_CPU_EQUIVALENT * resources.gpus)


def order_key(priority: int, submitted_at: float, aging_per_s: float) -> float:
    """Lower runs first; ordering by it equals ordering by effective priority at any ``now``."""
    return aging_per_s * submitted_at - priority


def effective_priority(priority: int, submitted_at: float, now: float, aging_per_s: float) -> float:
    """Priority plus what the job has gained by waiting."""
    return priority + aging_per_s * max(now - submitted_at, 0.0)


@dataclass(frozen=True, slots=True)
class Entry:
    """One job's place in its project's heap."""

    key: float
    submitted_at: float
    job_id: str
    version: int


class ProjectQueues:
    """Per-project heaps of job ids and the fair-share pick of the next project.

    ``version`` numbers let ``push`` replace a job (its priority or not_before changed) without
    finding the old entry: an entry whose version is not the job's current one is stale.
    """

    def __init__(self, project_weights: Mapping[str, float] | None = None) -> None:
        self._heaps: dict[str, list[tuple[float, float, str, int]]] = {}
        self._current: dict[str, int] = {}
        self._weights = dict(project_weights or {})
        self._next_version = 0

    def weight(self, project: str) -> float:
        return self._weights.get(project, 1.0)

    def push(self, project: str, job_id: str, key: float, submitted_at: float) -> None:
        """Add a job, or replace its earlier entry."""
        self._next_version += 1
        self._current[job_id] = self._next_version
        heap = self._heaps.setdefault(project, [])
        heapq.heappush(heap, (key, submitted_at, job_id, self._next_version))

    def discard(self, job_id: str) -> None:
        """Forget a job; its entry goes stale."""
        self._current.pop(job_id, None)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._current

    def __len__(self) -> int:
        return len(self._current)

    def peek(self, project: str) -> Entry | None:
        """The project's next live entry, dropping stale ones from the top."""
        heap = self._heaps.get(project)
        while heap:
            key, submitted_at, job_id, version = heap[0]
            if self._current.get(job_id) == version:
                return Entry(key, submitted_at, job_id, version)
            heapq.heappop(heap)
        return None

    def pop(self, project: str) -> Entry | None:
        """Take the project's next live entry (the job stays known until ``discard``)."""
        entry = self.peek(project)
        if entry is not None:
            heapq.heappop(self._heaps[project])
        return entry

    def restore(self, project: str, entry: Entry) -> None:
        """Put back an entry taken with ``pop`` that was not placed."""
        if self._current.get(entry.job_id) == entry.version:
            heapq.heappush(
                self._heaps[project], (entry.key, entry.submitted_at, entry.job_id, entry.version)
            )

    def projects(self) -> list[str]:
        """Projects that may still have live entries."""
        return [p for p, heap in self._heaps.items() if heap]

    def compact_if_stale(self) -> None:
        """Compact when stale entries outnumber live ones (amortised O(1) per removal)."""
        if sum(len(h) for h in self._heaps.values()) > 2 * len(self._current) + 1024:
            self.compact()

    def compact(self) -> None:
        """Drop empty heaps; rebuild a heap that is mostly stale entries."""
        for project in list(self._heaps):
            heap = self._heaps[project]
            live = [e for e in heap if self._current.get(e[2]) == e[3]]
            if not live:
                del self._heaps[project]
            elif len(live) * 2 < len(heap):
                heapq.heapify(live)
                self._heaps[project] = live


class FairShare:
    """The tick's order of projects: lowest usage per weight first, ties by name.

    ``charge`` adds a placed job's usage so the next pick sees it; a project whose queue ran dry
    is dropped with ``drop``.
    """

    def __init__(
        self, queues: ProjectQueues, projects: list[str], usage: Mapping[str, float]
    ) -> None:
        self._queues = queues
        self.usage = {p: float(usage.get(p, 0.0)) for p in projects}
        self._heap = [(self.usage[p] / queues.weight(p), p) for p in projects]
        heapq.heapify(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def current(self) -> str:
        """The project whose turn it is."""
        return self._heap[0][1]

    def charge(self, project: str, amount: float) -> None:
        """Add a placed job's usage to its project and let the order move on."""
        self.usage[project] = self.usage.get(project, 0.0) + amount
        entry = (self.usage[project] / self._queues.weight(project), project)
        if self._heap and self._heap[0][1] == project:
            heapq.heapreplace(self._heap, entry)
            return
        # A job taken out of turn (an urgent one): projects are few, so rebuild the order.
        for i, (_, name) in enumerate(self._heap):
            if name == project:
                self._heap[i] = entry
                heapq.heapify(self._heap)
                return

    def drop(self, project: str) -> None:
        """Remove the current project from this tick's order."""
        if self._heap and self._heap[0][1] == project:
            heapq.heappop(self._heap)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(p for _, p in self._heap))
