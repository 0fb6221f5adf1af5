"""The job and attempt state machines."""

from __future__ import annotations

import pytest

from corridor.compute.sansio.states import (
    ALLOWED,
    ATTEMPT_ALLOWED,
    TERMINAL,
    AttemptState,
    JobState,
    attempt_transition,
    can_transition,
    transition,
)
from corridor.errors import Conflict


def test_every_state_has_a_row_and_terminal_rows_are_empty() -> None:
    assert set(ALLOWED) == set(JobState)
    assert set(ATTEMPT_ALLOWED) == set(AttemptState)
    assert {s for s, moves in ALLOWED.items() if not moves} == TERMINAL


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("queued", "placed"),
        ("placed", "running"),
        ("running", "succeeded"),
        ("running", "failed"),
        ("running", "retrying"),
        ("placed", "retrying"),
        ("retrying", "placed"),
        ("queued", "cancelled"),
        ("retrying", "cancelled"),
        ("placed", "cancelled"),
        ("running", "cancelled"),
    ],
)
def test_the_life_of_a_job_moves_forward(old: str, new: str) -> None:
    assert transition(old, new) == JobState(new)
    assert can_transition(old, new)


@pytest.mark.parametrize("old", sorted(TERMINAL))
@pytest.mark.parametrize("new", sorted(JobState))
def test_an_ended_job_never_moves_again(old: JobState, new: JobState) -> None:
    with pytest.raises(Conflict, match=f"already ended \\({old}\\)"):
        transition(old, new)


@pytest.mark.parametrize(("old", "new"), [("queued", "running"), ("queued", "succeeded")])
def test_skipping_a_step_is_a_conflict(old: str, new: str) -> None:
    with pytest.raises(Conflict, match=f"a job that is {old} cannot become {new}"):
        transition(old, new)
    assert not can_transition(old, new)


def test_an_unknown_state_name_is_refused() -> None:
    with pytest.raises(ValueError, match="'done' is not a valid JobState"):
        transition("queued", "done")


def test_attempts_end_once() -> None:
    assert attempt_transition("placed", "running") is AttemptState.RUNNING
    assert attempt_transition("running", "lost") is AttemptState.LOST
    with pytest.raises(Conflict, match="an attempt that is lost cannot become running"):
        attempt_transition("lost", "running")
