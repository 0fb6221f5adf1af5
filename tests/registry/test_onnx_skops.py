"""ONNX and skops packages: registered, loaded back through the client, predicting as sklearn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import skops.io
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from corridor import Client
from corridor.config import Settings
from corridor.errors import InvalidInput
from corridor.home import init_home
from corridor.registry.loaders import load
from corridor.registry.manifest import ManifestFields
from corridor.registry.skops_loader import untrusted_refusals
from tests.conftest import sqlite_only
from tests.registry.signing import sign_folder

RNG = np.random.default_rng(7)
X = RNG.normal(size=(40, 4)).astype(np.float32)
Y_CLASS = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
Y_REG = X @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32) + 0.25


class Shady(BaseEstimator):  # type: ignore[misc]
    """An estimator from outside scikit-learn: skops would have to import this module."""

    def fit(self, x: object, y: object) -> Shady:
        return self

    def predict(self, x: object) -> object:
        return x


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    init_home(settings)
    with Client(settings=settings) as c:
        c.create_project("churn")
        yield c


def _onnx(model: object, path: Path, **options: object) -> Path:
    graph = convert_sklearn(
        model, initial_types=[("input", FloatTensorType([None, 4]))], options=options or None
    )
    path.mkdir()
    (path / "model.onnx").write_bytes(graph.SerializeToString())
    return path


@sqlite_only
def test_an_onnx_regressor_round_trips_and_predicts_as_sklearn(
    client: Client, tmp_path: Path
) -> None:
    ridge = Ridge().fit(X, Y_REG)
    folder = _onnx(ridge, tmp_path / "ridge")
    client.register_model("churn/ridge", folder, flavour="onnx", entry="model.onnx")
    loaded = client.load_model("models:/churn/ridge/1")
    got = loaded.predict(X.astype(np.float64))  # converted to the graph's float32
    np.testing.assert_allclose(got.ravel(), ridge.predict(X), rtol=1e-5, atol=1e-5)
    by_name = loaded.predict({"input": X[:3]})
    np.testing.assert_allclose(by_name.ravel(), ridge.predict(X[:3]), rtol=1e-5, atol=1e-5)
    with pytest.raises(InvalidInput, match=r"inputs are \['input'\]"):
        loaded.predict({"features": X})


@sqlite_only
def test_an_onnx_classifier_returns_each_output_by_name(client: Client, tmp_path: Path) -> None:
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y_CLASS)
    folder = _onnx(model, tmp_path / "clf", zipmap=False)
    client.register_model("churn/clf", folder, flavour="onnx", entry="model.onnx")
    outputs = client.load_model("models:/churn/clf/1").predict(X)
    assert set(outputs) == {"label", "probabilities"}
    np.testing.assert_array_equal(outputs["label"], model.predict(X))
    np.testing.assert_allclose(outputs["probabilities"], model.predict_proba(X), atol=1e-5)


@sqlite_only
def test_a_skops_forest_round_trips_and_predicts_as_sklearn(client: Client, tmp_path: Path) -> None:
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, Y_CLASS)
    path = tmp_path / "forest" / "model.skops"
    path.parent.mkdir()
    skops.io.dump(forest, path)
    # The forest's trees are a type skops does not trust by itself; scikit-learn's are allowed.
    assert skops.io.get_untrusted_types(file=path) == ["sklearn.tree._tree.Tree"]
    client.register_model("churn/forest", path.parent, flavour="skops", entry="model.skops")
    loaded = client.load_model("models:/churn/forest/1")
    np.testing.assert_array_equal(loaded.predict(X), forest.predict(X))


@sqlite_only
def test_a_skops_file_with_a_type_from_elsewhere_is_refused_naming_it(
    client: Client, tmp_path: Path
) -> None:
    folder = tmp_path / "shady"
    folder.mkdir()
    skops.io.dump(make_pipeline(Shady()).fit(X, Y_CLASS), folder / "model.skops")
    client.register_model("churn/shady", folder, flavour="skops", entry="model.skops")
    with pytest.raises(InvalidInput) as refused:
        client.load_model("models:/churn/shady/1")
    assert f"{__name__}.Shady" in refused.value.message
    assert "not scikit-learn, NumPy, SciPy or builtin types" in refused.value.message


def test_a_skops_function_that_runs_code_is_refused(tmp_path: Path) -> None:
    skops.io.dump(FunctionTransformer(func=eval), tmp_path / "model.skops")
    fields = ManifestFields(flavour="skops", entry="model.skops")
    manifest, keys = sign_folder(tmp_path, fields)
    with pytest.raises(InvalidInput, match=r"builtin types, which Corridor does not load: "):
        load(tmp_path, manifest, public_keys=keys)


def test_the_skops_allowlist() -> None:
    names = [
        "sklearn.tree._tree.Tree",
        "numpy.linalg.norm",
        "scipy.sparse._csr.csr_matrix",
        "builtins.range",
        "builtins.slice",
        "builtins.eval",
        "builtins.open",
        "builtins.type",
        "numpy.load",
        "numpy.memmap",
        "scipy.io.loadmat",
        "os.system",
        "sklearnx.Thing",
    ]
    assert untrusted_refusals(names) == [
        "builtins.eval",
        "builtins.open",
        "builtins.type",
        "numpy.load",
        "numpy.memmap",
        "os.system",
        "scipy.io.loadmat",
        "sklearnx.Thing",
    ]
