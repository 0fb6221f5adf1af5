"""Resource arithmetic and the checks that refuse impossible requests."""

from __future__ import annotations

import pytest

from corridor.compute.sansio.resources import NOTHING, Resources
from corridor.errors import InvalidInput


def test_add_and_subtract_each_dimension() -> None:
    a, b = Resources(2, 100, 1), Resources(0.5, 40, 0.25)
    assert a + b == Resources(2.5, 140, 1.25)
    assert a - b == Resources(1.5, 60, 0.75)
    assert a - a + NOTHING == NOTHING


def test_scaled_is_the_whole_gang() -> None:
    assert Resources(2, 10, 0.5).scaled(4) == Resources(8, 40, 2.0)


def test_fits_needs_every_dimension() -> None:
    free = Resources(4, 1000, 1)
    assert Resources(4, 1000, 1).fits(free)
    assert not Resources(4.5, 10, 0).fits(free)
    assert not Resources(1, 1001, 0).fits(free)
    assert not Resources(1, 10, 2).fits(free)


def test_fits_tolerates_float_drift_of_fractional_gpus() -> None:
    free = Resources(1, 0, 1.0) - Resources(0, 0, 0.1) - Resources(0, 0, 0.2) - Resources(0, 0, 0.4)
    assert free.gpus != 0.3  # the drift this tolerance exists for
    assert Resources(0, 0, 0.3).fits(free)
    assert not Resources(0, 0, 0.31).fits(free)


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (Resources(-1, 0, 0), "cpus must be zero or more"),
        (Resources(float("nan"), 0, 0), "cpus must be a finite number"),
        (Resources(1, -5, 0), "memory must be zero or more"),
        (Resources(1, 0, -0.5), "gpus must be zero or more"),
        (Resources(1, 0, float("inf")), "gpus must be a finite number"),
        (Resources(2e6, 0, 0), "cpus 2e\\+06 is more than any cluster has"),
        (Resources(1, 0, 1.5), "gpus 1.5 is neither whole nor a fraction below one"),
        (Resources(1, 1.5, 0), "memory must be a whole number of bytes"),  # type: ignore[arg-type]
    ],
)
def test_check_refuses_impossible_requests(resources: Resources, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        resources.check()


@pytest.mark.parametrize("gpus", [0.0, 0.25, 0.5, 1.0, 2.0, 8.0])
def test_check_accepts_whole_gpus_and_fractions_of_one(gpus: float) -> None:
    assert Resources(1, 0, gpus).check() == Resources(1, 0, gpus)


def test_describe_and_clamped() -> None:
    assert Resources(2, 2**30, 1).describe() == "2 cpus, 1.0 GiB, 1 gpu"
    assert Resources(-1, -5, -0.5).clamped() == NOTHING
    assert NOTHING.is_zero()
    assert not Resources(0, 0, 0.5).is_zero()
