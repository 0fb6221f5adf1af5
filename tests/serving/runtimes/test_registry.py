"""What load_served_model refuses: tampered or unsigned packages before anything is loaded,
pickle always, flavours no backend serves."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from corridor.errors import InvalidInput, SignatureInvalid
from corridor.registry.flavours import is_pickle_based
from corridor.registry.manifest import Manifest, ManifestFields
from corridor.registry.package_signing import SIGNATURE_FILE_NAME
from corridor.security.signing_keys import public_pem
from corridor.serving.packages import materialise
from corridor.serving.runtimes.registry import BACKENDS, load_served_model, servable_flavours
from corridor.training.packages.python_function import function_files
from tests.registry.signing import sign_folder
from tests.serving.runtimes.conftest import Registered

MARKER_CODE = """
import pathlib
pathlib.Path({marker!r}).write_text("the package's code ran")

def score(inputs):
    return inputs
"""


def test_a_byte_edited_in_the_cache_raises_signature_invalid_before_any_code_runs(
    world: Registered, tmp_path: Path
) -> None:
    path, manifest = world.materialise("adder", cache=tmp_path / "cache")
    marker = tmp_path / "ran"
    (path / "code" / "scoring.py").write_text(MARKER_CODE.format(marker=str(marker)))
    with pytest.raises(SignatureInvalid, match="changed file"):
        load_served_model(path, manifest, public_keys=world.keys())
    assert not marker.exists()


def test_a_tampered_weights_file_raises_signature_invalid(
    world: Registered, tmp_path: Path
) -> None:
    path, manifest = world.materialise("linear", cache=tmp_path / "cache")
    data = bytearray((path / "model.json").read_bytes())
    data[-3] ^= 0x01
    (path / "model.json").write_bytes(bytes(data))
    with pytest.raises(SignatureInvalid, match=r"changed file\(s\): model.json"):
        load_served_model(path, manifest, public_keys=world.keys())


def test_a_package_materialised_without_its_signature_is_refused_as_unsigned(
    world: Registered, tmp_path: Path
) -> None:
    path, manifest = materialise(world.runtime.blobs, world.digests["linear"], tmp_path)
    assert not (path / SIGNATURE_FILE_NAME).exists()
    with pytest.raises(SignatureInvalid, match="unsigned"):
        load_served_model(path, manifest, public_keys=world.keys())


def test_a_package_signed_by_an_untrusted_key_is_refused(world: Registered) -> None:
    path, manifest = world.materialise("linear")
    stranger = public_pem(ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(SignatureInvalid, match="not a trusted key"):
        load_served_model(path, manifest, public_keys=[stranger])


@pytest.mark.parametrize("flavour", ["sklearn", "pickle", "python_function", "no-such-flavour"])
def test_pickle_based_and_unknown_flavours_are_refused_even_when_signed(
    tmp_path: Path, flavour: str
) -> None:
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"weights": [1.0]}))
    manifest, keys = sign_folder(tmp_path, ManifestFields(flavour=flavour, entry="model.pkl"))
    with pytest.raises(InvalidInput, match="nothing is unpickled in serving") as caught:
        load_served_model(tmp_path, manifest, public_keys=keys)
    assert "ONNX, skops, safetensors/torch" in caught.value.message


def test_pickle_data_under_a_safe_flavour_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(pickle.dumps(object, protocol=4))
    manifest, keys = sign_folder(tmp_path, ManifestFields(flavour="onnx", entry="model.onnx"))
    with pytest.raises(InvalidInput, match=r"model\.onnx is pickle data"):
        load_served_model(tmp_path, manifest, public_keys=keys)


def test_a_safe_flavour_no_backend_serves_names_the_served_flavours(tmp_path: Path) -> None:
    (tmp_path / "weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    manifest, keys = sign_folder(tmp_path, ManifestFields(flavour="safetensors"))
    with pytest.raises(InvalidInput, match="cannot be served") as caught:
        load_served_model(tmp_path, manifest, public_keys=keys)
    for flavour in BACKENDS:
        assert flavour in caught.value.message


def test_two_packages_with_a_module_of_one_name_loaded_at_once_each_run_their_own(
    tmp_path: Path,
) -> None:
    signature = {
        "inputs": {
            "kind": "tensors",
            "tensors": [{"name": "x", "dtype": "float64", "shape": [-1]}],
        },
        "outputs": {
            "kind": "tensors",
            "tensors": [{"name": "y", "dtype": "float64", "shape": [-1]}],
        },
    }
    loaded: dict[int, float] = {}

    def load_and_predict(k: int, folder: Path, manifest: Manifest, keys: list[bytes]) -> None:
        model = load_served_model(folder, manifest, public_keys=keys)
        loaded[k] = float(model.predict({"x": np.zeros(1)})["y"][0])

    jobs = []
    for k in range(4):
        root = tmp_path / f"project{k}"
        root.mkdir()
        (root / "scoring.py").write_text(
            f"def score(inputs):\n    return {{'y': inputs['x'] + {k}}}\n"
        )
        files = function_files("scoring:score", signature=signature, root=root)
        folder = tmp_path / f"package{k}"
        files.write(folder)
        fields = ManifestFields(flavour=files.flavour, entry=files.entry, signature=files.signature)
        manifest, keys = sign_folder(folder, fields)
        jobs.append(threading.Thread(target=load_and_predict, args=(k, folder, manifest, keys)))
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert loaded == {0: 0.0, 1: 1.0, 2: 2.0, 3: 3.0}


def test_the_servable_flavours_are_the_backends_and_none_is_pickle_based() -> None:
    assert servable_flavours() == frozenset(BACKENDS)
    assert not any(is_pickle_based(f) for f in servable_flavours())
