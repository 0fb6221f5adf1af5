"""Where a deployment's replicas run, from its placement and the server's sites."""

from __future__ import annotations

from pathlib import Path

import pytest

from corridor.config import Settings
from corridor.errors import ConfigurationError
from corridor.serving.spec import Placement
from corridor.serving.version_pools import placement_of

SITES = """
[sites.here]
executor = "local"

[sites.cluster]
executor = "ray"
address = "head:6379"
allow_unauthenticated = true
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    (home / "corridor.toml").write_text(SITES)
    return Settings(home=home)


def test_auto_runs_in_process_on_a_local_site_and_as_ray_actors_on_a_ray_site(
    settings: Settings,
) -> None:
    assert placement_of(settings, Placement()) == ("inprocess", None)
    assert placement_of(settings, Placement(site="here")) == ("inprocess", None)
    kind, site = placement_of(settings, Placement(site="cluster"))
    assert kind == "ray"
    assert site is not None
    assert site.address == "head:6379"


def test_ray_without_a_site_takes_the_first_ray_site(settings: Settings) -> None:
    kind, site = placement_of(settings, Placement(kind="ray"))
    assert kind == "ray"
    assert site is not None
    assert site.name == "cluster"


def test_ray_on_a_local_site_is_refused_saying_what_to_declare(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="Ray site"):
        placement_of(settings, Placement(kind="ray", site="here"))
