"""One live server for the fuzz suites, seeded with a few real objects to aim at.

Generated requests that only ever name things that do not exist stop at the first lookup, so
path parameters are drawn half the time from the seeded names and ids and half the time at
random. The example budget is small by default (the suite runs in CI on every change) and
larger in ``make fuzz``: ``CORRIDOR_FUZZ_EXAMPLES`` sets it, and ``CORRIDOR_FUZZ_ONLY`` narrows
the OpenAPI suite to operations whose path holds that text. Generation is derandomised, so a
failure found here is found again on the next run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, Phase, settings

from tests.conftest import LiveServer, module_server

EXAMPLES = int(os.environ.get("CORRIDOR_FUZZ_EXAMPLES", "12"))
# Fuzz only the operations whose path holds this text (to chase one failure).
ONLY = os.environ.get("CORRIDOR_FUZZ_ONLY", "")

# Seeded and bounded: the same examples on every run, no example database, no deadline (the
# machine is shared and slow requests are not what these suites look for).
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@dataclass
class FuzzTarget:
    """The live server, its admin client, and the seeded objects by path-parameter name."""

    server: LiveServer
    http: httpx.Client
    seeds: dict[str, list[str]]

    def log_errors(self) -> list[str]:
        """Server log lines at level error or above, or carrying a traceback."""
        found = []
        for line in self.server.log_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                found.append(line)
                continue
            if record.get("level") in ("error", "critical") or "exception" in record:
                found.append(line[:2000])
        return found


def _seed(http: httpx.Client) -> dict[str, list[str]]:
    def ok(response: httpx.Response) -> dict[str, object]:
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}

    ok(http.post("/api/v1/projects", json={"name": "fuzz"}))
    experiment = ok(http.post("/api/v1/projects/fuzz/experiments", json={"name": "exp"}))
    run = ok(
        http.post(f"/api/v1/projects/fuzz/experiments/{experiment['experiment_id']}/runs", json={})
    )
    run_id = str(run["info"]["run_id"])  # type: ignore[index]
    points = [{"key": "loss", "value": 0.5, "timestamp": 1, "step": s} for s in range(3)]
    ok(http.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": points}))
    ok(http.put(f"/api/v1/artifacts/{run_id}/notes.txt", content=b"hello"))
    ok(http.post("/api/v1/projects/fuzz/models", json={"name": "m"}))
    ok(http.post("/api/v1/dataset-uploads/fuzz/d", content=b"id,email\n1,a@example.com\n2,b\n"))
    return {
        "project": ["fuzz"],
        "name": ["m", "d"],
        "experiment_id": [str(experiment["experiment_id"])],
        "run_id": [run_id],
        "version": ["1", "latest"],
        "path": ["notes.txt"],
        "user": ["admin"],
    }


@pytest.fixture(scope="package")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    with module_server(tmp_path_factory, "fuzz") as server, server.client() as http:
        yield FuzzTarget(server, http, _seed(http))


def seeded_path_parameters(document: dict[str, object], seeds: dict[str, list[str]]) -> None:
    """Let each path parameter with seeds be either a seeded value or anything its schema allows."""
    paths = document.get("paths", {})
    assert isinstance(paths, dict)
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                values = seeds.get(parameter["name"])
                if parameter["in"] == "path" and values:
                    parameter["schema"] = {"anyOf": [{"enum": values}, parameter["schema"]]}
