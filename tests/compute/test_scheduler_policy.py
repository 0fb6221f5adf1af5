"""The ``[scheduler]`` table: fair-share weights and aging, checked when read."""

from __future__ import annotations

from pathlib import Path

import pytest

from corridor.compute.scheduler_policy import DEFAULT_AGING_PER_HOUR, load_policy
from corridor.config import Settings
from corridor.errors import ConfigurationError


def _settings(home: Path, toml: str) -> Settings:
    (home / "corridor.toml").write_text(toml)
    return Settings(home=home)


def test_without_a_scheduler_table_every_project_weighs_one(home: Path) -> None:
    policy = load_policy(Settings(home=home))
    assert policy.project_weights == {}
    assert policy.aging_per_s == DEFAULT_AGING_PER_HOUR / 3600


def test_weights_and_aging_are_read(home: Path) -> None:
    toml = "[scheduler]\naging_per_hour = 30\n[scheduler.weights]\nresearch = 1\nproduction = 3\n"
    policy = load_policy(_settings(home, toml))
    assert policy.project_weights == {"research": 1.0, "production": 3.0}
    assert policy.aging_per_s == 30 / 3600


@pytest.mark.parametrize(
    ("toml", "names"),
    [
        ("[scheduler]\nweight = 2\n", "[scheduler] weight: unknown key"),
        ("[scheduler.weights]\nresearch = 0\n", "weights.research: must be a number above 0"),
        ("[scheduler.weights]\nresearch = 'high'\n", "weights.research"),
        ("[scheduler]\nweights = 3\n", "weights: must be a table"),
        ("[scheduler]\naging_per_hour = -1\n", "aging_per_hour: must be 0 or more"),
        ("scheduler = 1\n", "'scheduler' must be a table"),
    ],
)
def test_a_mistake_names_the_file_and_the_key(home: Path, toml: str, names: str) -> None:
    with pytest.raises(ConfigurationError, match=r"corridor\.toml") as caught:
        load_policy(_settings(home, toml))
    assert names in caught.value.message


def test_the_servers_scheduler_takes_the_weights(home: Path) -> None:
    from corridor.compute.scheduling import Scheduling
    from corridor.home import init_home
    from corridor.runtime import Runtime

    init_home(Settings(home=home))
    settings = _settings(home, "[scheduler.weights]\nproduction = 3\n")
    runtime = Runtime(settings)
    try:
        scheduler = Scheduling(runtime).scheduler
        assert scheduler._queues.weight("production") == 3.0
        assert scheduler._queues.weight("research") == 1.0
    finally:
        runtime.close()
