"""The official MLflow client's model registry calls against a real `corridor server`."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression

from tests.conftest import LiveServer
from tests.mlflow_compat.conftest import Connect, MlflowWorld, allow_full_batches, build_world

X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
Y = np.array([0, 0, 0, 1, 1, 1])


def _trained() -> LogisticRegression:
    return LogisticRegression().fit(X, Y)


@pytest.mark.slow
def test_register_a_logged_run_model_alias_it_and_load_it_back(
    live_server: LiveServer, connect: Connect, tmp_path: Path
) -> None:
    """MLflow 2's flow: model files in a run, registered from ``runs:/``, loaded by alias."""
    allow_full_batches(live_server)
    world = build_world(live_server)
    client = connect(world.url, world.tokens["ed"], workspace="team")
    model = _trained()
    local = tmp_path / "model"
    mlflow.sklearn.save_model(model, str(local))  # on this machine: no server involved
    mlflow.set_experiment("registry")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(local), artifact_path="model")

    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "classifier")
    assert version.name == "classifier"
    assert version.version == "1"
    assert version.status == "READY"
    assert version.run_id == run.info.run_id

    client.set_registered_model_alias("classifier", "champion", version.version)
    by_alias = client.get_model_version_by_alias("classifier", "champion")
    assert by_alias.version == "1"
    assert by_alias.aliases == ["champion"]

    loaded = mlflow.pyfunc.load_model("models:/classifier@champion")
    assert list(loaded.predict(X)) == list(model.predict(X))
    again = mlflow.sklearn.load_model("models:/classifier/1")
    assert list(again.predict_proba(X)[:, 1].round(6)) == list(
        model.predict_proba(X)[:, 1].round(6)
    )


@pytest.mark.slow
def test_sklearn_log_model_registers_through_mlflow_3_logged_models(
    world: MlflowWorld, connect: Connect
) -> None:
    client = connect(world.url, world.tokens["ed"], workspace="team")
    model = _trained()
    mlflow.set_experiment("logged-models")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name="logged", input_example=X[:1]
        )
    # Versions travel as strings in MLflow's REST messages, whichever server answers.
    assert info.registered_model_version == "1"
    client.set_registered_model_alias("logged", "champion", "1")
    assert client.get_model_version_by_alias("logged", "champion").version == "1"
    loaded = mlflow.pyfunc.load_model("models:/logged@champion")
    assert list(loaded.predict(X)) == list(model.predict(X))


def test_registered_models_crud_search_stages_and_tags(
    world: MlflowWorld, connect: Connect
) -> None:
    client = connect(world.url, world.tokens["alice"], workspace="team")
    for name in ("crud-b", "crud-a", "crud-c"):
        client.create_registered_model(name, tags={"kind": "crud"}, description=f"about {name}")
    with pytest.raises(MlflowException) as twice:
        client.create_registered_model("crud-a")
    assert twice.value.error_code == "RESOURCE_ALREADY_EXISTS"

    found = client.search_registered_models(filter_string="name LIKE 'team/crud-%'")
    assert [m.name for m in found] == ["crud-a", "crud-b", "crud-c"]
    first = client.search_registered_models(
        filter_string="tags.kind = 'crud'", max_results=2, order_by=["name DESC"]
    )
    assert [m.name for m in first] == ["crud-c", "crud-b"]
    rest = client.search_registered_models(
        filter_string="tags.kind = 'crud'",
        max_results=2,
        order_by=["name DESC"],
        page_token=first.token,
    )
    assert [m.name for m in rest] == ["crud-a"]

    client.update_registered_model("crud-a", description="changed")
    client.set_registered_model_tag("crud-a", "owner", "alice")
    client.delete_registered_model_tag("crud-a", "kind")
    client.rename_registered_model("crud-a", "crud-renamed")
    model = client.get_registered_model("crud-renamed")
    assert model.description == "changed"
    assert model.tags == {"owner": "alice"}
    with pytest.raises(MlflowException) as gone:
        client.get_registered_model("crud-a")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    client.delete_registered_model("crud-renamed")
    assert client.search_registered_models(filter_string="name = 'team/crud-renamed'") == []


def test_versions_stages_tags_and_deletes_need_the_right_roles(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    editor = connect(world.url, world.tokens["ed"], workspace="team")
    experiment_id = editor.create_experiment("versions")
    run_id = editor.create_run(experiment_id).info.run_id
    (tmp_path / "weights.bin").write_bytes(b"\x00\x01")
    editor.log_artifact(run_id, str(tmp_path / "weights.bin"), artifact_path="model")
    editor.create_registered_model("staged")
    for _ in range(2):
        editor.create_model_version("staged", f"runs:/{run_id}/model", run_id=run_id)

    # MLflow deprecates stages in its client; Corridor still serves them for MLflow 2 code.
    for version, stage in (("1", "Staging"), ("2", "Production")):
        with pytest.warns(FutureWarning, match="stages"):
            editor.transition_model_version_stage("staged", version, stage)
    with pytest.warns(FutureWarning, match="stages"):
        latest = editor.get_latest_versions("staged", stages=["Production"])
    assert [v.version for v in latest] == ["2"]
    editor.set_model_version_tag("staged", "2", "validated", "yes")
    editor.update_model_version("staged", "2", description="the good one")
    fetched = editor.get_model_version("staged", "2")
    assert fetched.tags == {"validated": "yes"}
    assert fetched.description == "the good one"
    assert fetched.current_stage == "Production"
    assert editor.get_model_version_download_uri("staged", "2") == (
        f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model"
    )
    versions = editor.search_model_versions("name = 'team/staged'")
    assert sorted(v.version for v in versions) == ["1", "2"]

    viewer = connect(world.url, world.tokens["vic"], workspace="team")
    with pytest.raises(MlflowException) as read_only:
        viewer.set_registered_model_alias("staged", "nope", "1")
    assert read_only.value.error_code == "PERMISSION_DENIED"
    editor = connect(world.url, world.tokens["ed"], workspace="team")
    with pytest.raises(MlflowException) as not_admin:
        editor.delete_model_version("staged", "1")
    assert not_admin.value.error_code == "PERMISSION_DENIED"
    admin = connect(world.url, world.tokens["alice"], workspace="team")
    admin.delete_model_version("staged", "1")
    assert [v.version for v in admin.search_model_versions("name = 'team/staged'")] == ["2"]


def test_a_version_from_a_hidden_run_or_an_empty_source_is_refused(
    world: MlflowWorld, connect: Connect, tmp_path: Path
) -> None:
    outsider = connect(world.url, world.tokens["mallory"], workspace="other")
    experiment_id = outsider.create_experiment("secret")
    secret_run = outsider.create_run(experiment_id).info.run_id
    (tmp_path / "w.bin").write_bytes(b"secret")
    outsider.log_artifact(secret_run, str(tmp_path / "w.bin"), artifact_path="model")

    editor = connect(world.url, world.tokens["ed"], workspace="team")
    editor.create_registered_model("thief")
    with pytest.raises(MlflowException) as hidden:
        editor.create_model_version("thief", f"runs:/{secret_run}/model")
    assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    empty_run = editor.create_run(editor.create_experiment("empty")).info.run_id
    with pytest.raises(MlflowException) as empty:
        editor.create_model_version("thief", f"runs:/{empty_run}/model")
    assert empty.value.error_code == "INVALID_PARAMETER_VALUE"
    for source in ("file:///etc/passwd", "s3://bucket/x", f"runs:/{empty_run}/../../x"):
        with pytest.raises(MlflowException) as refused:
            editor.create_model_version("thief", source)
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert editor.search_model_versions("name = 'team/thief'") == []
