"""The official MLflow 3 client's logged-model calls against a real `corridor server`."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression

from tests.mlflow_compat.conftest import Connect, MlflowWorld

X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
Y = np.array([0, 0, 0, 1, 1, 1])


def _log_model(name: str = "model", **kwargs: object) -> mlflow.models.model.ModelInfo:
    return mlflow.sklearn.log_model(LogisticRegression().fit(X, Y), name=name, **kwargs)


@pytest.mark.slow
def test_log_model_load_it_by_id_and_find_it(world: MlflowWorld, connect: Connect) -> None:
    client = connect(world.url, world.tokens["ed"], workspace="team")
    experiment_id = mlflow.set_experiment("client-logged").experiment_id
    with mlflow.start_run() as run:
        mlflow.log_param("C", "1.0")
        info = _log_model(params={"solver": "lbfgs"})
    model_id = info.model_id
    assert info.model_uri == f"models:/{model_id}"

    model = client.get_logged_model(model_id)
    assert model.status == LoggedModelStatus.READY
    assert (model.name, model.source_run_id, model.experiment_id) == (
        "model",
        run.info.run_id,
        experiment_id,
    )
    assert model.artifact_location == (
        f"mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts"
    )
    assert model.params == {"C": "1.0", "solver": "lbfgs"}
    assert [o.model_id for o in client.get_run(run.info.run_id).outputs.model_outputs] == [model_id]

    loaded = mlflow.sklearn.load_model(f"models:/{model_id}")
    assert list(loaded.predict(X)) == list(LogisticRegression().fit(X, Y).predict(X))

    found = mlflow.search_logged_models(
        experiment_ids=[experiment_id], filter_string="name = 'model'", output_format="list"
    )
    assert [m.model_id for m in found] == [model_id]
    assert (
        mlflow.search_logged_models(
            experiment_ids=[experiment_id], filter_string="name = 'nope'", output_format="list"
        )
        == []
    )


@pytest.mark.slow
def test_tags_pages_and_registering_from_the_run(world: MlflowWorld, connect: Connect) -> None:
    client = connect(world.url, world.tokens["ed"], workspace="team")
    experiment_id = mlflow.set_experiment("client-logged-pages").experiment_id
    with mlflow.start_run() as run:
        first = _log_model("first").model_id
        second = _log_model("second").model_id

    client.set_logged_model_tags(first, {"stage": "candidate", "team/owner": "ed"})
    client.delete_logged_model_tag(first, "team/owner")
    assert client.get_logged_model(first).tags["stage"] == "candidate"
    assert "team/owner" not in client.get_logged_model(first).tags

    page = client.search_logged_models([experiment_id], max_results=1)
    assert page.token
    rest = client.search_logged_models([experiment_id], max_results=1, page_token=page.token)
    assert {page[0].model_id, rest[0].model_id} == {first, second}
    tagged = client.search_logged_models([experiment_id], filter_string="tags.stage = 'candidate'")
    assert [m.model_id for m in tagged] == [first]

    # MLflow 2's spelling: the client finds the logged model through the run's outputs.
    version = mlflow.register_model(f"runs:/{run.info.run_id}/second", "from-run-uri")
    assert (version.source, version.run_id) == (f"models:/{second}", run.info.run_id)
    assert client.get_model_version_download_uri("from-run-uri", version.version) == (
        f"mlflow-artifacts:/{experiment_id}/models/{second}/artifacts"
    )
    versions_tag = client.get_logged_model(second).tags["mlflow.modelVersions"]
    assert "from-run-uri" in versions_tag

    client.delete_logged_model(first)
    with pytest.raises(MlflowException) as gone:
        client.get_logged_model(first)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert [m.model_id for m in client.search_logged_models([experiment_id])] == [second]


@pytest.mark.slow
def test_an_external_model_gets_its_files_after_it_is_ready(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    """``create_external_model`` finalizes at once; ``log_model(model_id=...)`` then uploads."""
    client = connect(world.url, world.tokens["ed"], workspace="team")
    mlflow.set_experiment("client-external")
    external = mlflow.create_external_model(name="agent", model_type="agent")
    assert external.status == LoggedModelStatus.READY
    info = _log_model("agent", model_id=external.model_id)
    assert info.model_id == external.model_id
    stored = client.get_logged_model(external.model_id)
    assert "mlflow.model.isExternal" not in stored.tags
    assert stored.model_type == "agent"
    assert mlflow.sklearn.load_model(f"models:/{external.model_id}").predict(X).shape == (6,)


def test_outsiders_and_viewers(world: MlflowWorld, connect: Connect) -> None:
    connect(world.url, world.tokens["ed"], workspace="team")
    experiment_id = mlflow.set_experiment("client-logged-rbac").experiment_id
    model = mlflow.initialize_logged_model(name="pending")
    assert model.status == LoggedModelStatus.PENDING

    viewer = connect(world.url, world.tokens["vic"], workspace="team")
    assert viewer.get_logged_model(model.model_id).name == "pending"
    with pytest.raises(MlflowException) as read_only:
        viewer.set_logged_model_tags(model.model_id, {"k": "v"})
    assert read_only.value.error_code == "PERMISSION_DENIED"

    outsider = connect(world.url, world.tokens["mallory"], workspace="other")
    with pytest.raises(MlflowException) as hidden:
        outsider.get_logged_model(model.model_id)
    assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as hidden_search:
        outsider.search_logged_models([experiment_id])
    assert hidden_search.value.error_code == "RESOURCE_DOES_NOT_EXIST"
