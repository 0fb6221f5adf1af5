"""The executor seam: what the scheduler hands over (``Assignment``) and what a backend does.

An executor only starts, watches and stops workers. Everything a job's state depends on (its
start, logs, result, exit) travels from the worker to the server over HTTP, so an executor's
handles live in memory only: after a server restart the executor knows none of the surviving
workers, and their liveness is judged by leases, never by the executor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from corridor.compute.sansio.resources import Resources

Handle = str
"""An executor's id for one launched worker; meaningful only to the executor that issued it."""

PollState = Literal["running", "exited", "lost"]


@dataclass(frozen=True)
class Assignment:
    """One attempt of one job, placed on a site, ready to launch.

    ``resources`` is per worker; a gang job has ``workers`` of them, all at ``site``.
    ``gpu_indices`` are the devices the scheduler reserved on a local site (empty: no GPU, or
    an executor such as Ray that picks devices itself).
    """

    job_id: str
    attempt: int
    site: str
    server_url: str
    token: str = field(repr=False)
    resources: Resources
    workers: int = 1
    gpu_type: str | None = None
    gpu_indices: tuple[int, ...] = ()

    def worker_env(self) -> dict[str, str]:
        """The variables every worker reads, whichever executor starts it."""
        return {
            "CORRIDOR_URL": self.server_url,
            "CORRIDOR_JOB_ID": self.job_id,
            "CORRIDOR_JOB_ATTEMPT": str(self.attempt),
            "CORRIDOR_JOB_TOKEN": self.token,
        }


@runtime_checkable
class Executor(Protocol):
    """A backend that runs workers: a local process pool, a Ray cluster."""

    def capacity(self) -> Resources | None:
        """What the backend discovered it has; None: use the site's declared capacity."""
        ...

    def launch(self, assignment: Assignment) -> Handle:
        """Start the assignment's worker(s) and return at once with a handle."""
        ...

    def poll(self, handle: Handle) -> PollState:
        """``running`` while the worker lives (or is unknown to this process), else how it ended."""
        ...

    def cancel(self, handle: Handle) -> None:
        """Kill the worker and its job's whole process tree, best effort; a gone one is fine."""
        ...

    def close(self) -> None:
        """Release the backend's connections; workers already launched keep running."""
        ...
