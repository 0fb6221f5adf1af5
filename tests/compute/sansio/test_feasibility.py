"""Submit-time refusals name the resource, the site, the regions or the deadline."""

from __future__ import annotations

from typing import Any

import pytest

from corridor.compute.sansio.placement import feasibility
from tests.compute.sansio.cluster import job, site

SITES = [
    site("gpu-eu", region="eu-west", cpus=32, gpus=2),
    site("gpu-north", region="eu-north", cpus=16, gpus=2, gpu_types=frozenset({"A100", "H100"})),
    site("cpu-us", region="us-east", cpus=64, memory_gib=256),
]
NOW = 1_800_000_000.0


def test_a_job_some_site_can_run_is_accepted() -> None:
    assert feasibility(job("j", gpus=2, cpus=8), SITES, NOW) is None
    assert feasibility(job("j", gpus=0.5, gpu_type="H100"), SITES, NOW) is None


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"gpus": 4},
            "asks for 4 GPUs per worker; the most any site has is 2 GPUs (gpu-eu)",
        ),
        (
            {"cpus": 100},
            "asks for 100 CPUs per worker; the most any site has is 64 CPUs (cpu-us)",
        ),
        (
            {"memory_gib": 300},
            "asks for 300.0 GiB of memory per worker; the most any site has is "
            "256.0 GiB of memory (cpu-us)",
        ),
        (
            {"site": "gpu-west"},
            "unknown site 'gpu-west'; known sites: cpu-us, gpu-eu, gpu-north",
        ),
        (
            {"regions": frozenset({"ap-south", "ap-east"}), "datasets": ("sales@3",)},
            "dataset sales@3 is pinned to ap-east, ap-south; no site is in them "
            "(sites: cpu-us in us-east, gpu-eu in eu-west, gpu-north in eu-north)",
        ),
        (
            {"regions": frozenset({"eu-west"}), "datasets": ("sales@3",), "site": "cpu-us"},
            "site cpu-us is in us-east, but dataset sales@3 is pinned to eu-west",
        ),
        (
            {
                "regions": frozenset({"eu-west"}),
                "datasets": ("a@1", "b@2"),
                "gpus": 2,
                "workers": 2,
            },
            "asks for 2 workers at one site, 4 GPUs in all; the most any eligible site has is "
            "2 GPUs (gpu-eu)",
        ),
        (
            {"gpu_type": "B200", "gpus": 1},
            "asks for B200 GPUs; no site has them (GPU types offered: A100, H100)",
        ),
        (
            {"gpu_type": "H100", "gpus": 1, "site": "gpu-eu"},
            "asks for H100 GPUs; site gpu-eu has none (GPU types offered: A100)",
        ),
        (
            {"gpus": 4, "site": "gpu-north"},
            "asks for 4 GPUs per worker; site gpu-north has 2 GPUs",
        ),
        (
            {"gpus": 1, "workers": 3},
            "asks for 3 workers at one site, 3 GPUs in all; the most any site has is "
            "2 GPUs (gpu-eu)",
        ),
        (
            {"deadline": NOW - 60},
            "the deadline 2027-01-15T07:59:00Z is in the past (now 2027-01-15T08:00:00Z)",
        ),
        (
            {"deadline": NOW + 300, "expected_duration_s": 3600.0, "duration_known": True},
            "the deadline 2027-01-15T08:05:00Z is 5m away but the job may run for 1h "
            "(its timeout): no site can finish it in time",
        ),
        (
            {"deferrable": True},
            "a deferrable job needs a deadline: its start may be shifted up to that time",
        ),
    ],
)
def test_refusals_name_what_no_site_can_give(kwargs: dict[str, Any], expected: str) -> None:
    assert feasibility(job("j", **kwargs), SITES, NOW) == expected


def test_a_deadline_shorter_than_a_default_duration_guess_is_not_refused() -> None:
    # Without a timeout the duration is a guess; the job may well be quick.
    assert feasibility(job("j", deadline=NOW + 300, expected_duration_s=3600.0), SITES, NOW) is None


def test_a_gang_that_fits_no_single_site_in_every_dimension_at_once_is_refused() -> None:
    sites = [site("many-cpus", cpus=64, memory_gib=8), site("much-memory", cpus=4, memory_gib=512)]
    text = feasibility(job("j", cpus=4, memory_gib=8, workers=4), sites, NOW)
    assert text == "no site has 16 cpus, 32.0 GiB at once for its 4 workers"


def test_no_sites_at_all() -> None:
    assert feasibility(job("j"), [], NOW) == "no sites are configured"
