"""Fixtures for driving the real MLflow client against a real `corridor server`.

MLflow keeps global state (tracking URI, active run, environment variables read on every
request); each test gets it fresh and leaves it clean.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# MLflow warns at import time about its own type hints ("Any type hint is inferred as
# AnyType", mlflow/types/type_hints.py) while it builds schemas for its built-in models. The
# warning is about MLflow's code, not ours, and pytest turns warnings into errors: silence that
# one message, from MLflow's modules only, while importing.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message=r".*Any type hint is inferred as AnyType", category=UserWarning
    )
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.utils import server_info

from corridor.client.client import Client
from tests.conftest import LiveServer, module_server

# Warnings MLflow raises while it works, about its own internals; each is filtered narrowly.
MLFLOW_WARNINGS = (
    # mlflow.types.type_hints, on first use of a pyfunc loader that was not imported above.
    r"ignore:.*Any type hint is inferred as AnyType:UserWarning",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            for spec in MLFLOW_WARNINGS:
                item.add_marker(pytest.mark.filterwarnings(spec))


def _clear_mlflow_environment() -> dict[str, str]:
    removed = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("MLFLOW_")}
    os.environ.pop("DO_NOT_TRACK", None)
    return removed


@pytest.fixture(autouse=True)
def _mlflow_state() -> Iterator[None]:
    """No telemetry, no retries (a failing call fails at once), no state left behind.

    Not monkeypatch: MLflow itself writes variables (MLFLOW_EXPERIMENT_ID...) during a test,
    and those must go too, whatever monkeypatch would restore.
    """
    saved = _clear_mlflow_environment()
    os.environ.update(
        {
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
        }
    )
    try:
        yield
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        # set_experiment() also remembers the experiment in a module global.
        mlflow.tracking.fluent._active_experiment_id = None
        mlflow.tracking.fluent._reset_last_logged_model_id()
        mlflow.set_tracking_uri(None)
        server_info._clear_server_info_cache()
        _clear_mlflow_environment()
        os.environ.update(saved)


@dataclass
class MlflowWorld:
    """A live server with users in two projects.

    Project ``team``: alice (admin), ed (editor), vic (viewer). Project ``other``: mallory
    (admin), an outsider to ``team``. ``root`` is the server administrator.
    """

    live: LiveServer
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.live.url


# A log_batch of 1,000 metrics, MLflow's limit, is about 100 KB of JSON; the live servers of
# the suite cap bodies far below the default of 16 MiB.
FULL_BATCH_BODY_BYTES = 1024 * 1024


def allow_full_batches(live: LiveServer) -> None:
    """Restart ``live`` with a body limit that admits MLflow's largest requests."""
    live.stop()
    live.env["CORRIDOR_MAX_BODY_BYTES"] = str(FULL_BATCH_BODY_BYTES)
    live.start()


def build_world(live: LiveServer) -> MlflowWorld:
    tokens = {"root": live.token}
    with Client(live.url, token=live.token) as admin:
        for name in ("alice", "ed", "vic", "mallory"):
            admin.create_user(name)
            tokens[name] = admin.create_token("t", user=name).token
    with Client(live.url, token=tokens["alice"]) as alice:
        alice.create_project("team")
        alice.grant_role("team", "ed", "editor")
        alice.grant_role("team", "vic", "viewer")
    with Client(live.url, token=tokens["mallory"]) as mallory:
        mallory.create_project("other")
    return MlflowWorld(live, tokens)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowWorld]:
    """One SQLite-backed server for a module's tests; they use names no other test uses."""
    # Started with the body limit that admits MLflow's largest requests (see above).
    with module_server(tmp_path_factory, "mlflow", max_body_bytes=FULL_BATCH_BODY_BYTES) as live:
        yield build_world(live)


Connect = Callable[..., MlflowClient]


@pytest.fixture
def connect() -> Connect:
    """Point the MLflow client (fluent API included) at a server, as a user or as nobody."""

    def use(url: str, token: str | None, *, workspace: str | None = None) -> MlflowClient:
        settings = {"MLFLOW_TRACKING_TOKEN": token, "MLFLOW_WORKSPACE": workspace}
        for key, value in settings.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        os.environ["MLFLOW_TRACKING_URI"] = url
        mlflow.set_tracking_uri(url)
        return MlflowClient(tracking_uri=url)

    return use
