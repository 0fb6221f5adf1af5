"""Signed packages built once per test package, and one event loop per module in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from corridor.serving.replicas.base import ReplicaKind, ReplicaSpec
from tests.serving.replicas.packages import build_linear_package, build_mlp_package

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture(scope="package")
def mlp_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReplicaSpec, list[bytes]]:
    """The torch MLP package (8 -> 16 -> 3) and the key that verifies it."""
    return build_mlp_package(
        tmp_path_factory.mktemp("mlp-code"), tmp_path_factory.mktemp("mlp-package")
    )


@pytest.fixture(scope="package")
def linear_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReplicaSpec, list[bytes]]:
    """The ``corridor.linear`` package (8 -> 3) and the key that verifies it."""
    return build_linear_package(tmp_path_factory.mktemp("linear-package"))


def spec_of(spec: ReplicaSpec, kind: ReplicaKind) -> ReplicaSpec:
    return replace(spec, kind=kind)


@pytest.fixture(scope="module")
def run() -> Iterator[Run[Any]]:
    """Run coroutines on one event loop that lives in its own thread for the whole module, as
    a server's loop does (replicas and their tasks outlive a single test)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="replica-tests-loop", daemon=True)
    thread.start()

    def run_on_loop(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=120)

    try:
        yield run_on_loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
