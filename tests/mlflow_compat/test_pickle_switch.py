"""An MLflow client registers and loads its cloudpickled sklearn model whatever the project's
pickle switch; Corridor's own loader refuses that version until a server admin allows pickle."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from corridor import Client
from corridor.errors import InvalidInput
from tests.mlflow_compat.conftest import Connect, MlflowWorld

X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
Y = np.array([0, 0, 0, 1, 1, 1])


def test_mlflow_keeps_its_sklearn_models_and_corridor_loads_them_only_with_the_switch(
    world: MlflowWorld, connect: Connect
) -> None:
    connect(world.url, world.tokens["ed"], workspace="team")
    model = LogisticRegression().fit(X, Y)
    mlflow.set_experiment("pickle-switch")
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name="cloudpickled")
    # MLflow's own client loads what it registered, in a project that does not allow pickle
    # (the workspace is the project: Corridor names the model team/cloudpickled).
    loaded = mlflow.sklearn.load_model("models:/cloudpickled/1")
    assert list(loaded.predict(X)) == list(model.predict(X))
    with Client(world.url, token=world.tokens["ed"]) as corridor:
        version = corridor.resolve_model("models:/team/cloudpickled/1")
        assert (version.flavour, version.pickle_allowed) == ("mlflow", False)
        with pytest.raises(InvalidInput, match="'mlflow' is pickle-based"):
            corridor.load_model("models:/team/cloudpickled/1")
    with Client(world.url, token=world.tokens["root"]) as admin:
        admin.set_project_pickle("team", allowed=True)
    with Client(world.url, token=world.tokens["ed"]) as corridor:
        # Allowed: Corridor has no loader of its own for MLflow's folders, so it hands the
        # files over instead of refusing them.
        files = corridor.load_model("models:/team/cloudpickled/1")
        assert files.predictor is None
        assert (files.path / "MLmodel").is_file()
