"""Each backend predicts what its library predicts, through materialise and load_served_model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from corridor.errors import InvalidInput
from corridor.registry.manifest import ManifestFields
from corridor.serving.runtimes.base import RuntimeOptions, ServedModel
from corridor.serving.runtimes.registry import load_served_model
from corridor.serving.tensors import TensorSpec
from corridor.training.packages.python_function import function_files
from tests.registry.signing import sign_folder
from tests.serving.runtimes.conftest import Registered, rows


def test_the_torch_mlp_predicts_logits_as_the_module_does(world: Registered) -> None:
    model = world.load("mlp")
    x = rows(32, 64)
    with torch.no_grad():
        want = world.mlp(torch.from_numpy(x)).numpy()
    got = model.predict({"input": x})["logits"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert model.signature.outputs == (TensorSpec("logits", "FP32", (-1, 10)),)


def test_onnx_serves_the_graphs_tensor_outputs_as_sklearn_predicts(world: Registered) -> None:
    model = world.load("iris-onnx")
    assert world.iris is not None
    x = rows(20, 4, seed=3) + 4.0
    out = model.predict({"X": x})
    assert {t.name for t in model.signature.outputs} == {"label", "probabilities"}
    np.testing.assert_array_equal(out["label"], world.iris.predict(x.astype(np.float64)))
    np.testing.assert_allclose(out["probabilities"], world.iris.predict_proba(x), atol=1e-4)


def test_onnx_runs_with_the_intra_op_threads_it_is_given(world: Registered) -> None:
    path, manifest = world.materialise("iris-onnx")
    model = load_served_model(
        path, manifest, public_keys=world.keys(), options=RuntimeOptions(threads=1)
    )
    assert model.predict({"X": rows(2, 4)})["label"].shape == (2,)


def test_skops_answers_probabilities_with_predict_proba_and_others_with_predict(
    world: Registered,
) -> None:
    model = world.load("iris-skops")
    assert world.iris is not None
    x = rows(10, 4, np.float64, seed=5) + 4.0
    out = model.predict({"input": x})
    np.testing.assert_array_equal(out["prediction"], world.iris.predict(x))
    np.testing.assert_allclose(out["probabilities"], world.iris.predict_proba(x))


def test_a_python_function_package_runs_its_own_code(world: Registered) -> None:
    model = world.load("adder")
    x = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.0]])
    out = model.predict({"x": x})
    np.testing.assert_array_equal(out["total"], [6.0, 1.0])
    np.testing.assert_array_equal(out["doubled"], x * 2)


def test_a_linear_package_is_a_matrix_product(world: Registered) -> None:
    model = world.load("linear")
    out = model.predict({"input": np.array([[1.0, 2.0, 3.0]])})["output"]
    np.testing.assert_allclose(out, [[1.0 + 1.0 + 6.0 + 0.25, -2.0 + 3.0 - 0.5]])


def test_the_minilm_embeds_texts_as_unit_vectors_with_similar_texts_closer(
    minilm: ServedModel,
) -> None:
    assert minilm.kind == "embeddings"
    assert minilm.signature.inputs == (TensorSpec("text", "BYTES", (-1,)),)
    assert minilm.signature.outputs == (TensorSpec("embedding", "FP32", (-1, 384)),)
    texts = np.array(
        [b"my invoice is wrong", b"I was billed twice", b"the app crashes"], dtype=object
    )
    vectors = minilm.predict({"text": texts})["embedding"]
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2]


def test_a_device_is_refused_by_cpu_only_flavours_and_checked_by_torch(
    world: Registered,
) -> None:
    path, manifest = world.materialise("iris-onnx")
    with pytest.raises(InvalidInput, match="CPU only"):
        load_served_model(
            path, manifest, public_keys=world.keys(), options=RuntimeOptions(device="cuda")
        )
    path, manifest = world.materialise("mlp")
    with pytest.raises(InvalidInput, match="not a torch device"):
        load_served_model(
            path, manifest, public_keys=world.keys(), options=RuntimeOptions(device="abacus")
        )


EMBED_SOURCE = """
import numpy as np

def embed(inputs):
    lengths = np.array([len(t) for t in inputs["text"]], dtype=np.float32)
    return {"embedding": np.stack([lengths, lengths * 0 + 1], axis=1)}
"""


def test_a_function_mapping_texts_to_vectors_is_an_embeddings_model(tmp_path: Path) -> None:
    signature = {
        "inputs": {
            "kind": "tensors",
            "tensors": [{"name": "text", "dtype": "object", "shape": [-1]}],
        },
        "outputs": {
            "kind": "tensors",
            "tensors": [{"name": "embedding", "dtype": "float32", "shape": [-1, 2]}],
        },
    }
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "embedder.py").write_text(EMBED_SOURCE)
    files = function_files("embedder:embed", signature=signature, root=tmp_path / "project")
    files.write(tmp_path / "package")
    fields = ManifestFields(flavour=files.flavour, entry=files.entry, signature=files.signature)
    manifest, keys = sign_folder(tmp_path / "package", fields)
    model = load_served_model(tmp_path / "package", manifest, public_keys=keys)
    assert model.kind == "embeddings"
    out = model.predict({"text": np.array([b"abc", b"de"], dtype=object)})["embedding"]
    np.testing.assert_array_equal(out, [[3.0, 1.0], [2.0, 1.0]])
