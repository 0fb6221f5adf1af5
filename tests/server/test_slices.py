"""The slice table: a slice added as one line gets its routes, body-limit exemption, error shape
and background work; the work starts with the server and stops cleanly with it, SIGTERM too."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

import corridor
from corridor.client.transport import InProcessTransport
from corridor.config import Settings
from corridor.errors import ConfigurationError
from corridor.home import init_home
from corridor.quickstart import free_port
from corridor.runtime import Runtime
from corridor.server.app import create_app, route_table
from corridor.server.errors import error_shapes
from corridor.slices import (
    SLICES,
    Slice,
    lifespan_hooks,
    load,
    load_callable,
    metadata,
    reference_sources,
    unlimited_body_prefixes,
)
from tests.conftest import sqlite_only
from tests.server import probe_slice
from tests.server.probe_slice import FAILING, PROBE, SECOND

MAX_BODY = 1024
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_probe() -> Iterator[None]:
    probe_slice.EVENTS.clear()
    probe_slice.TICKS.clear()
    yield
    probe_slice.EVENTS.clear()
    probe_slice.TICKS.clear()


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime(settings.model_copy(update={"max_body_bytes": MAX_BODY}))
    yield rt
    rt.close()


def in_process(app: FastAPI) -> httpx.Client:
    return httpx.Client(transport=InProcessTransport(app), base_url="http://corridor.test")


def wait_for(probe: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.02)
    pytest.fail(f"gave up waiting for {what}")


@contextmanager
def uvicorn_thread(app: FastAPI) -> Iterator[uvicorn.Server]:
    """Serve ``app`` under a real uvicorn on loopback, in a thread, until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="on", log_config=None)
    server = uvicorn.Server(config)
    exits: list[object] = []

    def run() -> None:
        try:
            server.run()
        except SystemExit as exc:  # how uvicorn reports a failed start
            exits.append(exc.code)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), "uvicorn to start or fail")
        yield server
    finally:
        server.should_exit = True
        thread.join(20)
        assert not thread.is_alive()
    assert exits == ([] if server.started else [3])


def test_every_part_the_table_names_loads_and_names_are_unique() -> None:
    assert len({s.name for s in SLICES}) == len(SLICES)
    for s in SLICES:
        for path in s.routers:
            load(path, what=s.name)
        if s.cli is not None:
            load_callable(s.cli, what=s.name)
        if s.models is not None:
            load(s.models, what=s.name)
    assert unlimited_body_prefixes()
    assert len(error_shapes(SLICES)) == 1  # MLflow's
    assert set(reference_sources()) == {
        "signing",
        "tracking",
        "registry",
        "data",
        "compute",
        "pipelines",
    }
    assert {
        "users",
        "runs",
        "model_versions",
        "dataset_versions",
        "compute_jobs",
        "pipeline_step_runs",
    } <= set(metadata().tables)


@sqlite_only
def test_a_part_that_does_not_load_is_a_configuration_error_naming_its_slice(
    runtime: Runtime,
) -> None:
    for broken in (
        Slice("nowhere", routers=("corridor.no_such_module:router",)),
        Slice("nothing", routers=("corridor.data.api:no_such_router",)),
        Slice("wrong", routers=("corridor.data.api:UPLOAD_PREFIX",)),
        Slice("notprefix", unlimited_body=("corridor.data.api:router",)),
    ):
        with pytest.raises(ConfigurationError, match=repr(broken.name)):
            create_app(runtime, [broken])


@sqlite_only
def test_a_slice_added_to_the_table_gets_its_routes_exemption_and_error_shape(
    runtime: Runtime,
) -> None:
    big = b"x" * (MAX_BODY + 1)
    with in_process(create_app(runtime)) as plain:
        assert plain.post("/api/v1/probe/echo", content=b"hi").status_code == 404
    with in_process(create_app(runtime, [*SLICES, PROBE])) as http:
        assert http.post("/api/v1/probe/echo", content=b"hi").json() == {"received": 2}
        refused = http.post("/api/v1/probe/echo", content=big)
        assert refused.status_code == 413
        assert refused.json()["error"]["code"] == "payload_too_large"
        # Streamed under the slice's upload prefix: no limit.
        upload = http.post(probe_slice.UPLOAD_PREFIX + "f", content=big * 4)
        assert upload.json() == {"received": 4 * len(big)}
        missing = http.get("/probe-api/nothing")
        assert missing.status_code == 404
        assert missing.json()["probe_error"] == "not_found"
        # The other slices' shapes are untouched.
        mlflow = http.get("/api/2.0/mlflow/no-such-endpoint").json()
        assert "error_code" in mlflow
        assert "error" in http.get("/api/v1/no-such-route").json()


@sqlite_only
def test_the_tables_routes_are_the_apps_routes_in_table_order(runtime: Runtime) -> None:
    paths = [r.path for r in route_table(create_app(runtime, [*SLICES, PROBE]))]
    assert paths.index("/healthz") < paths.index("/api/v1/probe/echo")
    assert paths[-5:] == [
        "/api/v1/probe/echo",
        probe_slice.UPLOAD_PREFIX + "{name}",
        "/api/v1/probe/crash",
        probe_slice.ERROR_PREFIXES[0] + "crash",
        "/api/v1/probe/state",
    ]


@sqlite_only
def test_an_unexpected_error_is_a_500_in_the_slices_shape_and_keeps_the_connection(
    runtime: Runtime,
) -> None:
    with (
        uvicorn_thread(create_app(runtime, [*SLICES, PROBE])) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}") as http,
    ):
        crashed = http.get("/api/v1/probe/crash")
        assert crashed.status_code == 500
        assert crashed.json()["error"]["code"] == "internal"
        assert "quote request id" in crashed.json()["error"]["message"]
        assert crashed.headers.get("connection") != "close"
        # The same keep-alive connection answers on: the error did not reach the server.
        assert http.get("/healthz").status_code == 200
        shaped = http.get(probe_slice.ERROR_PREFIXES[0] + "crash")
        assert (shaped.status_code, shaped.json()["probe_error"]) == (500, "internal")
        assert http.get("/healthz").status_code == 200


def test_hooks_run_while_the_app_runs_and_stop_in_reverse_order(runtime: Runtime) -> None:
    with uvicorn_thread(create_app(runtime, [*SLICES, PROBE, SECOND])) as server:
        assert server.started
        assert probe_slice.EVENTS == ["probe started", "second started"]
        url = f"http://127.0.0.1:{server.config.port}/api/v1/probe/state"
        wait_for(lambda: httpx.get(url).json()["ticks"].get("second", 0) > 3, "ticks")
    assert probe_slice.EVENTS == [
        "probe started",
        "second started",
        "second cancelled",
        "second stopped",
        "probe cancelled",
        "probe stopped",
    ]
    ticks = dict(probe_slice.TICKS)
    time.sleep(0.05)
    assert ticks == probe_slice.TICKS  # nothing runs after shutdown


@sqlite_only
def test_a_hook_that_fails_to_start_stops_those_started_and_fails_the_start(
    runtime: Runtime,
) -> None:
    with uvicorn_thread(create_app(runtime, [*SLICES, PROBE, FAILING, SECOND])) as server:
        assert not server.started
    assert probe_slice.EVENTS == ["probe started", "probe cancelled", "probe stopped"]


@sqlite_only
def test_the_in_process_transport_starts_no_background_work(runtime: Runtime) -> None:
    with in_process(create_app(runtime, [*SLICES, PROBE])) as http:
        assert http.get("/api/v1/probe/state").json() == {"events": [], "ticks": {}}
    assert probe_slice.EVENTS == []
    assert lifespan_hooks([*SLICES, PROBE])[-1][0] == "probe"


# Runs the real `corridor server` path (`serve`) with the probe slice added to the table.
_SERVE = """
import sys
import corridor.slices
from tests.server.probe_slice import PROBE
corridor.slices.SLICES = (*corridor.slices.SLICES, PROBE)
from corridor.config import Settings
from corridor.server.run import serve
serve(Settings(), port=int(sys.argv[1]))
"""


@sqlite_only
def test_sigterm_stops_the_servers_background_work_cleanly_and_exits_0(
    home: Path, database_url: str, tmp_path: Path
) -> None:
    init_home(Settings(home=home, database_url=database_url))
    port = free_port()
    env = {
        **os.environ,
        "CORRIDOR_HOME": str(home),
        "CORRIDOR_DATABASE_URL": database_url,
        "PYTHONPATH": str(REPO),
    }
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(port)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/probe/state"

        def ticking() -> bool:
            try:
                return httpx.get(url).json()["ticks"].get("probe", 0) > 3
            except httpx.TransportError:
                assert process.poll() is None, log_path.read_text()
                return False

        wait_for(ticking, "the probe's loop to tick")
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    messages = []
    for line in log_path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("slice") == "probe":
            messages.append(entry["message"])
    assert messages == ["slice started", "probe loop stopped", "slice stopped"]


def test_the_store_imports_no_slice() -> None:
    """The store sits below the slices: their tables and blob references reach it from the
    slice table (`corridor.slices`), handed in by the caller."""
    above = {f"corridor.{s.name}" for s in SLICES if s.name != "security"}
    above |= {"corridor.slices", "corridor.server", "corridor.cli", "corridor.client"}
    store = Path(corridor.__file__).parent / "store"
    found = []
    for path in store.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            found += [f"{path.name}: {n}" for n in names if _under(n, above)]
    assert found == []


def _under(module: str, packages: set[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)
