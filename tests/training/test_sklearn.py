"""scikit-learn helpers against a live server: runs logged by `fit_evaluate`, and models
registered as skops or ONNX that come back (never as pickle) with the same predictions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import pytest
import skops.io
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from corridor.client.client import Client
from corridor.config import Settings
from corridor.errors import InvalidInput, NotFound
from corridor.registry.manifest import MANIFEST_FILE_NAME, parse_manifest
from corridor.registry.skops_loader import untrusted_refusals
from corridor.training.sklearn import fit_evaluate
from tests.conftest import LiveServer, module_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with module_server(tmp_path_factory, "sklearn") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Client]:
    with Client(server.url, token=server.token, settings=Settings(home=server.home)) as c:
        yield c


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    return x[:100], y[:100], x[100:], y[100:]


def _classifier() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=500))


def test_fit_evaluate_logs_the_params_and_metrics_to_a_finished_run(
    client: Client, iris: tuple[np.ndarray, ...]
) -> None:
    result = fit_evaluate(_classifier(), *iris, run_name="iris-lr", client=client)
    assert set(result.metrics) == {"accuracy", "f1_macro"}
    assert 0.8 < result.metrics["accuracy"] <= 1.0
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "iris-lr"
    assert run.params["logisticregression__C"] == "0.5"
    assert run.params["logisticregression__max_iter"] == "500"
    assert run.params["standardscaler"] == "StandardScaler"
    assert run.params["estimator_class"] == "sklearn.pipeline.Pipeline"
    assert (run.params["n_train"], run.params["n_test"]) == ("100", "50")
    assert run.metrics["accuracy"].value == pytest.approx(result.metrics["accuracy"])
    assert run.metrics["f1_macro"].value == pytest.approx(result.metrics["f1_macro"])
    assert "fit_s" in run.metrics


def test_a_regressor_gets_regression_metrics_and_named_metrics_are_computed(
    client: Client,
) -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    result = fit_evaluate(
        Ridge(alpha=0.1), x[:300], y[:300], x[300:], y[300:], project="default", client=client
    )
    assert set(result.metrics) == {"r2", "rmse", "mae"}
    assert result.metrics["rmse"] > result.metrics["mae"] > 0
    named = fit_evaluate(
        Ridge(), x[:300], y[:300], x[300:], y[300:], metrics=["mse", "neg_max_error"], client=client
    )
    assert set(named.metrics) == {"mse", "neg_max_error"}
    assert named.metrics["neg_max_error"] < 0
    assert client.get_run(named.run_id).params["alpha"] == "1.0"


def test_a_failed_fit_marks_the_run_failed_and_raises(client: Client) -> None:
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="class"):
        fit_evaluate(
            LogisticRegression(), x, np.zeros(4), x, np.zeros(4), run_name="one-class",
            client=client,
        )  # fmt: skip
    exp = client.create_experiment("default", "sklearn", exist_ok=True)
    runs = client.search_runs("default", experiment_ids=[exp.experiment_id]).runs
    failed = [r for r in runs if r.info.run_name == "one-class"]
    assert [r.info.status for r in failed] == ["FAILED"]


def test_an_unknown_metric_is_refused_with_the_known_names(
    client: Client, iris: tuple[np.ndarray, ...]
) -> None:
    with pytest.raises(InvalidInput, match=r"unknown metric 'accurasy'.*accuracy"):
        fit_evaluate(_classifier(), *iris, metrics=["accurasy"], client=client)


def _downloaded(client: Client, name: str, version: int, dest: Path) -> Path:
    client.download_model(f"models:/{name}/{version}", dest)
    return dest


def test_a_skops_version_holds_the_model_in_skops_with_a_signature_from_the_data(
    client: Client, iris: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    _, _, x_test, _ = iris
    result = fit_evaluate(_classifier(), *iris, client=client)
    name = f"iris-{uuid.uuid4().hex[:6]}"
    with pytest.raises(NotFound, match="iris@1"):  # dataset versions are checked, then kept
        result.register(name, dataset_versions=["iris@1"])
    version = result.register(name, alias="candidate")
    assert (version.flavour, version.run_id) == ("skops", result.run_id)
    assert "candidate" in version.aliases
    folder = _downloaded(client, version.name, version.version, tmp_path / "pkg")
    manifest = parse_manifest((folder / MANIFEST_FILE_NAME).read_bytes())
    assert (manifest.flavour, manifest.entry) == ("skops", "model.skops")
    assert manifest.source_run == result.run_id
    assert manifest.metrics["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert manifest.signature is not None
    inputs = manifest.signature.model_dump(mode="json")["inputs"]
    assert inputs == {
        "kind": "tensors",
        "tensors": [{"name": "input", "dtype": "float64", "shape": [-1, 4]}],
    }
    # The bytes are skops (not pickle), and hold only types Corridor's loader trusts.
    data = (folder / "model.skops").read_bytes()
    assert data[:2] == b"PK"
    untrusted = skops.io.get_untrusted_types(data=data)
    assert untrusted_refusals(untrusted) == []
    loaded = skops.io.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict(x_test), result.estimator.predict(x_test))


def test_an_onnx_version_predicts_what_the_estimator_predicts(
    client: Client, iris: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    _, _, x_test, _ = iris
    result = fit_evaluate(_classifier(), *iris, client=client)
    name = f"iris-onnx-{uuid.uuid4().hex[:6]}"
    version = result.register(name, format="onnx", scope="specific")
    assert (version.flavour, version.scope) == ("onnx", "specific")
    folder = _downloaded(client, version.name, version.version, tmp_path / "pkg")
    manifest = parse_manifest((folder / MANIFEST_FILE_NAME).read_bytes())
    assert manifest.entry == "model.onnx"
    assert manifest.signature is not None
    signature = manifest.signature.model_dump(mode="json")
    assert signature["inputs"]["tensors"] == [{"name": "X", "dtype": "float32", "shape": [-1, 4]}]
    assert [t["name"] for t in signature["outputs"]["tensors"]] == ["label", "probabilities"]
    session = onnxruntime.InferenceSession(
        str(folder / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    label, proba = session.run(None, {"X": x_test.astype(np.float32)})
    np.testing.assert_array_equal(label, result.estimator.predict(x_test))
    np.testing.assert_allclose(proba, result.estimator.predict_proba(x_test), atol=1e-4)


def test_registered_versions_load_through_the_client_with_their_flavours_loader(
    client: Client, iris: tuple[np.ndarray, ...]
) -> None:
    _, _, x_test, _ = iris
    result = fit_evaluate(_classifier(), *iris, client=client)
    for format in ("skops", "onnx"):
        version = result.register(f"iris-load-{format}-{uuid.uuid4().hex[:6]}", format=format)
        model = client.load_model(f"models:/{version.name}/{version.version}")
        assert model.predictor is not None, format
        predicted = model.predictor.predict(
            x_test if format == "skops" else x_test.astype(np.float32)
        )
        if isinstance(predicted, dict):
            predicted = predicted["label"]
        np.testing.assert_array_equal(np.asarray(predicted), result.estimator.predict(x_test))


def test_a_dataframe_gives_a_column_signature_and_text_features_cannot_become_onnx(
    client: Client,
) -> None:
    frame = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0] * 5, "colour": ["r", "g", "b", "r"] * 5})
    target = np.array([0, 1, 1, 0] * 5)
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["colour"]), remainder="passthrough"),
        LogisticRegression(),
    )
    result = fit_evaluate(model, frame, target, frame, target, client=client)
    files = result.package("skops")
    assert files.signature is not None
    assert files.signature.model_dump(mode="json")["inputs"]["columns"] == [
        {"name": "size", "type": "double", "required": True},
        {"name": "colour", "type": "string", "required": True},
    ]
    with pytest.raises(InvalidInput, match="numeric features"):
        result.package("onnx")
    with pytest.raises(InvalidInput, match="never pickle"):
        result.package("pickle")
