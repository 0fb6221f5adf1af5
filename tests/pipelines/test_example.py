"""The iris pipeline of the examples, run twice: a search as map jobs, a model registered, and a
second run that takes every step but the registration from the cache."""

from __future__ import annotations

from pathlib import Path

from corridor.client.client import Client
from tests.pipelines.conftest import WriteModule

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "iris_pipeline.py"


def test_the_iris_example_searches_registers_and_reruns_from_the_cache(
    admin_client: Client, project: str, pipeline_module: WriteModule
) -> None:
    flow = pipeline_module(EXAMPLE.read_text())
    params = {"cs": [0.1, 10.0], "name": "iris"}

    first = admin_client.pipelines.run(flow.iris, params, project=project)
    assert first.run.state == "succeeded", first.run.error
    value = first.value
    assert isinstance(value, dict)
    assert value["best_c"] in (0.1, 10.0)
    assert [s["c"] for s in value["scores"]] == [0.1, 10.0]
    assert all(0.5 < s["accuracy"] <= 1.0 for s in value["scores"])
    assert value["model"] == {"$model_version": f"{project}/iris@1"}
    version = admin_client.registry.get_model_version(f"{project}/iris", "1")
    assert version.aliases == ["candidate"]

    second = admin_client.pipelines.run(flow.iris, params, project=project)
    assert second.run.state == "succeeded", second.run.error
    states = {s.key: s.state for s in admin_client.pipelines.get(second.run.id).steps}
    assert states["load"] == states["score"] == states["best"] == "cached"
    assert states["register"] == "succeeded"  # cache=False: a new version each run
    assert second.value["model"] == {"$model_version": f"{project}/iris@2"}
