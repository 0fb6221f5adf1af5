from __future__ import annotations

import pytest

from corridor.compute.sansio.carbon import capacity_share, carbon_g, cost, grid_kwh
from corridor.compute.sansio.resources import Resources
from corridor.compute.sansio.traces import HourlyTrace
from corridor.errors import InvalidInput

HOUR = 3600.0


def test_carbon_uses_pue_and_the_time_weighted_intensity_over_the_run() -> None:
    trace = HourlyTrace([(0.0, 100.0), (HOUR, 400.0)])
    # 3.6 MJ = 1 kWh, PUE 1.5: 1.5 kWh; the run spends 15 min at 100 and 45 min at 400 (325).
    assert carbon_g(3.6e6, 1.5, trace, 0.75 * HOUR, 1.75 * HOUR) == pytest.approx(1.5 * 325.0)


def test_carbon_of_an_instant_run_uses_the_intensity_at_that_time() -> None:
    trace = HourlyTrace([(0.0, 100.0), (HOUR, 400.0)])
    assert carbon_g(7.2e6, 1.0, trace, HOUR + 5, HOUR + 5) == pytest.approx(800.0)


def test_cost_is_energy_at_the_price_plus_the_held_share_of_the_hourly_cost() -> None:
    price = HourlyTrace([(0.0, 0.20), (HOUR, 0.40)])
    # 2 kWh (PUE 1) half at 0.20 and half at 0.40, over one hour holding a quarter of a site
    # that costs 8 an hour.
    got = cost(7.2e6, 1.0, price, 0.5 * HOUR, 1.5 * HOUR, cost_per_hour=8.0, share=0.25)
    assert got == pytest.approx(2 * 0.30 + 2.0)


def test_capacity_share_is_the_largest_fraction_held() -> None:
    site = Resources(cpus=64, memory_bytes=256 << 30, gpus=8)
    assert capacity_share(Resources(cpus=4, memory_bytes=0, gpus=8), site) == 1.0
    assert capacity_share(Resources(cpus=16, memory_bytes=32 << 30), site) == 0.25
    assert capacity_share(Resources(cpus=1), Resources(cpus=0, memory_bytes=0)) == 0.0


@pytest.mark.parametrize(
    ("energy_j", "pue", "match"),
    [
        (-1.0, 1.2, "energy_j"),
        (float("nan"), 1.2, "energy_j"),
        (1.0, 0.9, "pue"),
        (1.0, float("inf"), "pue"),
    ],
)
def test_grid_kwh_refuses_impossible_figures(energy_j: float, pue: float, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        grid_kwh(energy_j, pue)
