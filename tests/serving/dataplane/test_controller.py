"""The controller reconciling a plane with the deployments table of a real home.

The deployments are made through the control plane's SDK (an in-process client), as a user
would; the controller runs on a runtime of its own over the same home, as a server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import corridor
from corridor.client.client import Client
from corridor.config import Settings
from corridor.errors import Unavailable
from corridor.home import init_home
from corridor.runtime import Runtime
from corridor.serving.controller import Controller, controller_of, serving, shadow_report
from corridor.serving.deployment import LiveDeployment
from corridor.serving.plane import DeploymentHandle, InferenceContext, ServingPlane, plane_for
from corridor.training.packages.python_function import register_function
from tests.conftest import clean_env

CODE = Path(__file__).resolve().parent / "code"
SIGNATURE = {
    "inputs": {"kind": "tensors", "tensors": [{"name": "x", "dtype": "float32", "shape": [-1, 4]}]},
    "outputs": {
        "kind": "tensors",
        "tensors": [{"name": "y", "dtype": "float32", "shape": [-1, 4]}],
    },
}
X = {"x": np.ones((2, 4), np.float32)}
CONTEXT = InferenceContext(request_id="r")
DEADLINE_S = 60.0  # generous, for a loaded machine: it takes well under a second


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Client]]:
    """A home whose model ``scale`` has version 1 (doubles) and version 2 (triples)."""
    root = tmp_path_factory.mktemp("dataplane") / "home"
    with clean_env():
        settings = Settings(home=root)
        init_home(settings)
        with corridor.Client(settings=settings) as client:
            register_function(
                client, "scale", "dataplane_scale:double", signature=SIGNATURE, root=CODE
            )
            register_function(
                client, "scale", "dataplane_scale:triple", signature=SIGNATURE, root=CODE
            )
            yield settings, client


@pytest.fixture(autouse=True)
def no_deployments(home: tuple[Settings, Client]) -> None:
    """Each test starts from an empty deployments table (the home is shared by the module)."""
    client = home[1]
    deployments = client.serving.list()
    # Graphs first: a deployment a graph calls cannot be deleted before the graph.
    for deployment in sorted(deployments, key=lambda d: d.spec.graph is None):
        client.serving.delete(deployment.name)


@contextlib.asynccontextmanager
async def _controller(settings: Settings) -> AsyncIterator[tuple[ServingPlane, Controller]]:
    """A started controller over its own runtime on ``settings``' home, as a server runs it."""
    runtime = Runtime(settings)
    plane = ServingPlane()
    controller = Controller(runtime, plane)
    await controller.start()
    try:
        yield plane, controller
    finally:
        await controller.stop()
        runtime.close()


async def _until(check: Callable[[], bool], what: str, controller: Controller) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            failed = {name: reason for name, (_, _, reason) in controller.failed.items()}
            loading = {name: ident for name, (ident, _) in controller.loading.items()}
            running = {name: r.ident for name, r in controller.running.items()}
            raise AssertionError(
                f"the controller did not get there: {what}; failed: {failed}; "
                f"loading: {loading}; running: {running}"
            )
        await asyncio.sleep(0.01)


def _pools(controller: Controller, name: str) -> set[int]:
    return {id(v.pool) for v in controller.running[name].versions.values()}


def _replaced(plane: ServingPlane, name: str, old: object) -> Callable[[], bool]:
    return lambda: plane.get(name) is not old


def _ready(plane: ServingPlane, name: str) -> bool:
    handle = plane.get(name)
    return handle is not None and handle.ready()


async def _factor(handle: DeploymentHandle | None) -> float:
    assert handle is not None
    return float((await handle.infer(X, CONTEXT))["y"][0, 0])


def test_the_controller_serves_a_new_deployment_a_redeploy_a_rollback_and_a_delete(
    home: tuple[Settings, Client],
) -> None:
    settings, client = home

    async def scenario() -> None:
        async with _controller(settings) as (plane, controller):
            await asyncio.to_thread(client.serving.deploy, "scaler", "scale@1")
            await _until(lambda: _ready(plane, "scaler"), "deployment served", controller)
            handle = plane.get("scaler")
            assert handle is not None
            assert await _factor(handle) == 2.0
            first_pools = _pools(controller, "scaler")
            assert handle.metadata()["platform"] == "corridor-function"

            await asyncio.to_thread(client.serving.deploy, "scaler", "scale@2")
            await _until(lambda: plane.get("scaler") is not handle, "redeploy served", controller)
            assert await _factor(plane.get("scaler")) == 3.0

            served = plane.get("scaler")
            await asyncio.to_thread(client.serving.rollback, "scaler")
            await _until(lambda: plane.get("scaler") is not served, "rollback served", controller)
            assert await _factor(plane.get("scaler")) == 2.0
            # The rollback took over the replicas version 1 left running: it started nothing.
            assert _pools(controller, "scaler") == first_pools

            shown = await asyncio.to_thread(client.serving.show, "scaler")
            assert shown.status == "ready"

            await asyncio.to_thread(client.serving.delete, "scaler")
            await _until(lambda: plane.get("scaler") is None, "deployment removed", controller)

    asyncio.run(scenario())


def test_a_deployment_that_cannot_load_is_marked_failed_and_others_are_served(
    home: tuple[Settings, Client],
) -> None:
    settings, client = home

    async def scenario() -> None:
        async with _controller(settings) as (plane, controller):
            await asyncio.to_thread(
                client.serving.deploy,
                "broken",
                "scale@1",
                placement={"kind": "ray"},
            )
            await asyncio.to_thread(client.serving.deploy, "fine", "scale@2")
            await _until(
                lambda: plane.get("fine") is not None, "the good deployment served", controller
            )
            await _until(
                lambda: "broken" in controller.failed, "the broken one reported", controller
            )
            broken = plane.get("broken")
            assert broken is not None
            assert not broken.ready()
            with pytest.raises(Unavailable, match="Ray site"):
                await broken.infer(X, CONTEXT)
            shown = await asyncio.to_thread(client.serving.show, "broken")
            assert shown.status == "failed"
            assert "Ray site" in shown.message

    asyncio.run(scenario())


def test_a_graph_is_served_once_its_members_are(
    home: tuple[Settings, Client],
) -> None:
    settings, client = home

    async def scenario() -> None:
        async with _controller(settings) as (plane, controller):
            await asyncio.to_thread(client.serving.deploy, "doubler", "scale@1")
            await asyncio.to_thread(client.serving.deploy, "tripler", "scale@2")
            await asyncio.to_thread(
                client.serving.deploy,
                "pipe",
                graph={"kind": "sequence", "steps": ["doubler", "tripler"]},
            )
            await _until(lambda: _ready(plane, "pipe"), "graph served", controller)
            assert await _factor(plane.get("tripler")) == 3.0
            assert await _factor(plane.get("pipe")) == 6.0

    asyncio.run(scenario())


def test_a_tampered_package_folder_fails_the_load_and_is_written_again_for_the_next_revision(
    home: tuple[Settings, Client],
) -> None:
    settings, client = home
    folders = settings.home / "serving" / "packages"

    async def scenario() -> None:
        async with _controller(settings) as (plane, controller):
            await asyncio.to_thread(client.serving.deploy, "honest", "scale@1")
            await _until(lambda: _ready(plane, "honest"), "deployment served", controller)
            (config,) = (f for f in folders.glob("*/function.json") if "double" in f.read_text())
            code = config.parent / "code" / "dataplane_scale.py"
            code.write_text(code.read_text().replace("* 2", "* 20"))

            await asyncio.to_thread(client.serving.deploy, "tampered", "scale@1")
            await _until(lambda: "tampered" in controller.failed, "load refused", controller)
            assert "signature" in controller.failed["tampered"][2].lower()
            assert not code.exists()  # discarded, to be written again from the blob store

            await asyncio.to_thread(client.serving.scale, "tampered", 1)
            await _until(lambda: _ready(plane, "tampered"), "next revision served", controller)
            assert await _factor(plane.get("tampered")) == 2.0

    asyncio.run(scenario())


def test_redeploys_and_rollbacks_under_traffic_fail_no_request(
    home: tuple[Settings, Client],
) -> None:
    settings, client = home

    async def scenario() -> tuple[list[float], list[BaseException]]:
        runtime = Runtime(settings)
        plane = ServingPlane()
        controller = Controller(runtime, plane)
        await controller.start()
        answers: list[float] = []
        errors: list[BaseException] = []
        done = asyncio.Event()

        async def caller() -> None:
            while not done.is_set():
                handle = plane.get("busy")
                await asyncio.sleep(0.001)  # the gateway reads the body meanwhile
                try:
                    answers.append(await _factor(handle))
                except Exception as exc:
                    errors.append(exc)

        try:
            await asyncio.to_thread(client.serving.deploy, "busy", "scale@1")
            await _until(lambda: _ready(plane, "busy"), "deployment served", controller)
            callers = [asyncio.create_task(caller()) for _ in range(4)]
            for change in (
                lambda: client.serving.deploy("busy", "scale@2"),
                lambda: client.serving.rollback("busy"),
                lambda: client.serving.scale("busy", 2),
            ):
                served = plane.get("busy")
                await asyncio.to_thread(change)
                await _until(_replaced(plane, "busy", served), "change served", controller)
                await asyncio.sleep(0.05)
            done.set()
            await asyncio.gather(*callers)
        finally:
            await controller.stop()
            runtime.close()
        return answers, errors

    answers, errors = asyncio.run(scenario())
    assert errors == []
    assert set(answers) == {2.0, 3.0}


def test_the_lifespan_hook_serves_a_shadowed_deployment_and_reports_both_answers(
    home: tuple[Settings, Client],
) -> None:
    settings, client = home

    async def scenario() -> dict[str, Any] | None:
        runtime = Runtime(settings)
        try:
            async with serving(runtime):
                controller = controller_of(runtime)
                assert controller is not None
                plane = plane_for(runtime)
                await asyncio.to_thread(
                    client.serving.deploy, "shadowed", "scale@1", shadow=("scale@2", 100.0)
                )
                await _until(lambda: _ready(plane, "shadowed"), "deployment served", controller)
                for _ in range(3):
                    assert await _factor(plane.get("shadowed")) == 2.0
                handle = plane.get("shadowed")
                assert isinstance(handle, LiveDeployment)
                await handle.recorder.drain()
                return shadow_report(runtime, "shadowed")
        finally:
            runtime.close()

    report = asyncio.run(scenario())
    assert report is not None
    assert report["mirrored"] == 3
    assert report["failed"] == 0
    assert report["recent"][0]["difference"]["y"]["mean_abs_difference"] == 1.0
