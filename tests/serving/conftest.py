"""Fixtures shared by the serving tests: the world of `tests.serving.world`, built once per
test process (a real server with a project, people, tiny models and deployments)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.serving.world import World, running_world


@pytest.fixture(scope="session")
def serving_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The serving world: see `tests.serving.world` for what it holds."""
    with running_world(tmp_path_factory) as built:
        yield built
