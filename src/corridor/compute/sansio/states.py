"""The job and attempt state machines: which moves are legal, in one table.

A job is queued until the scheduler places it on a site, running once its worker reports in, and
ends succeeded, failed or cancelled. A placed or running job whose attempt failed with retries
left, or whose worker vanished, is retrying until its backoff passes and it is placed again.
Every state change goes through ``transition`` so an illegal move (a finished job started again,
a cancelled job resurrected by a late worker) is a ``Conflict``, never a silent overwrite.
"""

from __future__ import annotations

from enum import StrEnum

from corridor.errors import Conflict


class JobState(StrEnum):
    """Where a job is in its life; stored as the string value."""

    QUEUED = "queued"
    PLACED = "placed"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRYING = "retrying"


TERMINAL: frozenset[JobState] = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
# States that hold a site's capacity (an attempt exists and has not ended).
HOLDS_CAPACITY: frozenset[JobState] = frozenset({JobState.PLACED, JobState.RUNNING})

ALLOWED: dict[JobState, frozenset[JobState]] = {
    # failed from queued: the sites changed and no site can run the job any more.
    JobState.QUEUED: frozenset({JobState.PLACED, JobState.CANCELLED, JobState.FAILED}),
    # failed from placed: the launch failed with no retries left.
    JobState.PLACED: frozenset(
        {JobState.RUNNING, JobState.RETRYING, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.RUNNING: frozenset(
        {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.RETRYING}
    ),
    JobState.RETRYING: frozenset({JobState.PLACED, JobState.CANCELLED, JobState.FAILED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


def can_transition(old: JobState | str, new: JobState | str) -> bool:
    """True if a job in ``old`` may move to ``new``."""
    return JobState(new) in ALLOWED[JobState(old)]


def transition(old: JobState | str, new: JobState | str) -> JobState:
    """Return ``new`` if the move from ``old`` is legal, else raise Conflict saying why not."""
    old_state, new_state = JobState(old), JobState(new)
    if new_state in ALLOWED[old_state]:
        return new_state
    if old_state in TERMINAL:
        raise Conflict(f"the job has already ended ({old_state}); it cannot become {new_state}")
    raise Conflict(f"a job that is {old_state} cannot become {new_state}")


class AttemptState(StrEnum):
    """One try at running a job on a site."""

    PLACED = "placed"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"
    CANCELLED = "cancelled"


ATTEMPT_ENDED: frozenset[AttemptState] = frozenset(
    {AttemptState.SUCCEEDED, AttemptState.FAILED, AttemptState.LOST, AttemptState.CANCELLED}
)
ATTEMPT_ALLOWED: dict[AttemptState, frozenset[AttemptState]] = {
    AttemptState.PLACED: frozenset(
        {AttemptState.RUNNING, AttemptState.FAILED, AttemptState.LOST, AttemptState.CANCELLED}
    ),
    AttemptState.RUNNING: frozenset(
        {AttemptState.SUCCEEDED, AttemptState.FAILED, AttemptState.LOST, AttemptState.CANCELLED}
    ),
    **{state: frozenset() for state in ATTEMPT_ENDED},
}


def attempt_transition(old: AttemptState | str, new: AttemptState | str) -> AttemptState:
    """Return ``new`` if an attempt may move there from ``old``, else raise Conflict."""
    old_state, new_state = AttemptState(old), AttemptState(new)
    if new_state in ATTEMPT_ALLOWED[old_state]:
        return new_state
    raise Conflict(f"an attempt that is {old_state} cannot become {new_state}")
