"""One job against the sites: the objective picks the site, and the decision says why."""

from __future__ import annotations

import math

import pytest

from corridor.compute.sansio.placement import place_one
from corridor.compute.sansio.resources import Resources
from corridor.compute.sansio.traces import HourlyTrace
from tests.compute.sansio.cluster import job, site

HOUR = 3600.0
GPU_SITES = [
    site("gpu-eu", region="eu-west", gpus=2, carbon=410.0, price=0.10, cost_per_hour=4.0),
    site("gpu-north", region="eu-north", gpus=2, carbon=120.0, price=0.30, cost_per_hour=4.0),
    site("cpu-us", region="us-east", cpus=64, carbon=300.0, price=0.05),
]


def test_carbon_picks_the_cleanest_site_and_says_so() -> None:
    decision = place_one(
        job("j", gpus=1, objective="carbon", expected_duration_s=HOUR), GPU_SITES, 0.0
    )
    assert decision.site == "gpu-north"
    assert decision.start_at == 0.0
    # (10 W + 300 W) for an hour = 0.31 kWh, through PUE 1.2, at 120 and 410 g/kWh.
    assert decision.reason == "carbon: gpu-north 44.64 g < gpu-eu 152.5 g"
    by_site = {c.site: c for c in decision.candidates}
    assert by_site["gpu-north"].carbon_g == pytest.approx(0.31 * 1.2 * 120)
    assert by_site["gpu-north"].feasible
    assert by_site["cpu-us"].feasible is False
    assert by_site["cpu-us"].why.startswith("too small: the job needs 1 cpus, 1.0 GiB, 1 gpu")


def test_cost_picks_the_cheapest_energy_plus_share_of_the_site() -> None:
    decision = place_one(
        job("j", gpus=1, objective="cost", expected_duration_s=HOUR), GPU_SITES, 0.0
    )
    assert decision.site == "gpu-eu"
    by_site = {c.site: c for c in decision.candidates}
    # energy 0.31 kWh x 1.2 x price, plus 4.0/h x the job's dominant share (1 of 2 GPUs).
    assert by_site["gpu-eu"].cost == pytest.approx(0.31 * 1.2 * 0.10 + 4.0 * 0.5)
    assert decision.reason.startswith("cost: gpu-eu 2.037 < gpu-north 2.112")


def test_time_prefers_a_site_with_room_now_over_one_that_is_full() -> None:
    sites = [site("full", cpus=4, used=Resources(4, 0, 0)), site("empty", cpus=4, price=9.0)]
    decision = place_one(job("j", cpus=2), sites, 0.0)
    assert decision.site == "empty"
    full = next(c for c in decision.candidates if c.site == "full")
    assert not full.feasible
    assert full.why == "no room now: needs 2 cpus, 1.0 GiB, 0 cpus, 64.0 GiB free"


def test_time_ties_are_broken_by_cost_then_by_name() -> None:
    sites = [site("b", price=0.1), site("a", price=0.1), site("c", price=0.3)]
    decision = place_one(job("j"), sites, 0.0)
    assert decision.site == "a"
    assert decision.reason == "time: a 10m = b 10m; tie broken by name"
    priced = place_one(job("j"), [site("b", price=0.1), site("c", price=0.3)], 0.0)
    assert priced.reason.startswith("time: b 10m = c 10m; then cost: b ")


def test_a_pinned_job_goes_to_its_site_even_when_another_is_better() -> None:
    decision = place_one(job("j", gpus=1, objective="carbon", site="gpu-eu"), GPU_SITES, 0.0)
    assert decision.site == "gpu-eu"
    assert decision.reason == "pinned to gpu-eu"
    assert {c.site: c.why for c in decision.candidates}[
        "gpu-north"
    ] == "the job is pinned to gpu-eu"


def test_residency_keeps_a_job_in_its_regions() -> None:
    regions = frozenset({"eu-west"})
    decision = place_one(job("j", gpus=1, objective="carbon", regions=regions), GPU_SITES, 0.0)
    assert decision.site == "gpu-eu"
    north = next(c for c in decision.candidates if c.site == "gpu-north")
    assert north.why == "in eu-north; the job's data must stay in eu-west"


def test_gpu_type_is_a_constraint() -> None:
    sites = [site("a100", gpus=4), site("h100", gpus=4, gpu_types=frozenset({"H100"}), price=9)]
    decision = place_one(job("j", gpus=1, gpu_type="H100"), sites, 0.0)
    assert decision.site == "h100"


def test_a_gang_is_placed_whole_at_one_site_or_not_at_all() -> None:
    # 6 GPUs free in all, but at most 3 at any one site: a gang of 2 x 2 GPUs waits.
    sites = [site("a", gpus=4, used=Resources(0, 0, 1)), site("b", gpus=4, used=Resources(0, 0, 1))]
    decision = place_one(job("j", gpus=2, workers=2), sites, 0.0)
    assert decision.site is None
    assert decision.reason.startswith("waiting: no site has room for 2 cpus, 2.0 GiB, 4 gpus now")
    fits = place_one(job("j", gpus=1.5, workers=2), sites, 0.0)
    assert fits.site == "a"


def test_a_job_no_site_could_ever_run_is_marked_impossible() -> None:
    decision = place_one(job("j", gpus=8), GPU_SITES, 0.0)
    assert decision.impossible
    assert decision.site is None
    assert decision.reason == (
        "no site can run it: asks for 8 GPUs per worker; the most any site has is 2 GPUs (gpu-eu)"
    )


def test_a_down_site_is_not_used_and_the_job_waits_without_being_impossible() -> None:
    decision = place_one(job("j", gpus=1), [site("g", gpus=2, up=False)], 0.0)
    assert decision.site is None
    assert not decision.impossible
    assert decision.reason == "waiting: every site that could run it is down"


def test_a_full_site_with_known_releases_gives_the_expected_wait() -> None:
    sites = [
        site("soon", cpus=4, used=Resources(4, 0, 0), releases=((600.0, Resources(4, 0, 0)),)),
        site("later", cpus=4, used=Resources(4, 0, 0), releases=((1800.0, Resources(4, 0, 0)),)),
    ]
    decision = place_one(job("j", cpus=2), sites, 0.0)
    assert decision.site is None
    assert decision.reason == (
        "waiting: no site has room for 2 cpus, 1.0 GiB now; soon is held for it (expected in 10m)"
    )


def test_a_deferrable_job_is_shifted_to_the_low_carbon_window_before_its_deadline() -> None:
    forecast = HourlyTrace(
        [(h * HOUR, 300 + 200 * math.cos(2 * math.pi * h / 24)) for h in range(48)]
    )
    sites = [site("a", forecast=forecast)]
    deferrable = job(
        "j", deferrable=True, deadline=20 * HOUR, expected_duration_s=HOUR, objective="carbon"
    )
    decision = place_one(deferrable, sites, 0.0)
    assert decision.site == "a"
    assert decision.start_at == 12 * HOUR
    assert (
        "deferred to 1970-01-01T12:00:00Z: forecast 100 gCO2e/kWh over the run "
        "against 500 now (80% less)" in decision.reason
    )
    # With the deadline before the low, it starts as late as the deadline (less the margin) allows.
    tight = place_one(
        job("k", deferrable=True, deadline=6 * HOUR, expected_duration_s=HOUR), sites, 0.0
    )
    assert tight.start_at is not None
    assert tight.start_at + HOUR <= 6 * HOUR


@pytest.mark.parametrize("objective", ["cost", "carbon", "time"])
def test_decisions_do_not_depend_on_the_order_sites_are_listed(objective: str) -> None:
    sites = [
        site(
            f"s{i}",
            region=f"r{i % 3}",
            cpus=8 + i,
            gpus=i % 3,
            carbon=100 + 37 * i % 400,
            price=0.1 + (i * 7 % 5) / 10,
        )
        for i in range(12)
    ]
    j = job("j", cpus=2, gpus=1, objective=objective)
    first = place_one(j, sites, 0.0)
    again = place_one(j, list(reversed(sites)), 0.0)
    assert first.site == again.site
    assert first.reason == again.reason
    assert sorted(first.candidates, key=lambda c: c.site) == sorted(
        again.candidates, key=lambda c: c.site
    )
