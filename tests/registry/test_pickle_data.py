"""Pickle data under a flavour that is not pickle-based is refused, naming the file. No server."""

from __future__ import annotations

import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import pytest
import torch

from corridor.errors import InvalidInput
from corridor.registry.loaders import load
from corridor.registry.manifest import ManifestFields
from corridor.registry.pickle_data import pickle_kind
from tests.registry.signing import sign_folder

LINEAR = {"weights": [1.0], "bias": 0.0}


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickles_of_protocols_2_to_5_are_recognised(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0], "name": "m"}, protocol=protocol))
    assert pickle_kind(path) == f"a protocol {protocol} pickle"
    # Even one whose first argument runs far past the bytes that are read to decide.
    path.write_bytes(pickle.dumps(os.urandom(300_000), protocol=protocol))
    assert pickle_kind(path) == f"a protocol {protocol} pickle"


def test_a_torch_save_archive_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    torch.save({"w": torch.zeros(3)}, path)
    kind = pickle_kind(path)
    assert kind is not None
    assert "data.pkl" in kind


def test_safetensors_json_and_random_bytes_are_not_pickle(tmp_path: Path) -> None:
    # A safetensors header of 640 bytes starts 0x80 0x02, like a protocol 2 pickle.
    header = json.dumps({"__metadata__": {"pad": ""}}).encode()
    header = header[:-2] + b" " * (640 - len(header)) + header[-2:]
    safetensors = tmp_path / "model.safetensors"
    safetensors.write_bytes(struct.pack("<Q", 640) + header)
    assert safetensors.read_bytes()[:2] == b"\x80\x02"
    assert pickle_kind(safetensors) is None
    noise = tmp_path / "noise.bin"
    noise.write_bytes(b"\x80\x03\x00" + os.urandom(100_000))
    assert pickle_kind(noise) is None
    # Bytes that read as a pickle's long argument, of a length the file cannot hold.
    noise.write_bytes(b"\x80\x03B" + (2**31).to_bytes(4, "little") + os.urandom(100_000))
    assert pickle_kind(noise) is None
    plain = tmp_path / "model.json"
    plain.write_text(json.dumps(LINEAR))
    assert pickle_kind(plain) is None
    zipped = tmp_path / "other.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("schema.json", "{}")
    assert pickle_kind(zipped) is None


def test_a_pickle_entry_under_a_safe_flavour_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_bytes(pickle.dumps(LINEAR, protocol=4))
    fields = ManifestFields(flavour="corridor.linear", entry="model.json")
    manifest, keys = sign_folder(tmp_path, fields)
    with pytest.raises(InvalidInput) as refused:
        load(tmp_path, manifest, public_keys=keys)
    message = refused.value.message
    assert "model.json is pickle data (a protocol 4 pickle)" in message
    assert "'corridor.linear' is not pickle-based" in message
    # The project's pickle switch does not make a safe flavour's pickle loadable.
    with pytest.raises(InvalidInput, match=r"model\.json is pickle data"):
        load(tmp_path, manifest, pickle_allowed=True, public_keys=keys)


def test_a_torch_save_file_anywhere_in_a_safe_package_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps(LINEAR))
    (tmp_path / "extra").mkdir()
    torch.save(torch.ones(2), tmp_path / "extra" / "weights.pt")
    fields = ManifestFields(flavour="corridor.linear", entry="model.json")
    manifest, keys = sign_folder(tmp_path, fields)
    with pytest.raises(InvalidInput, match=r"extra/weights\.pt is pickle data \(a zip archive"):
        load(tmp_path, manifest, public_keys=keys)


def test_a_pickle_named_model_onnx_is_refused_before_onnxruntime_sees_it(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    manifest, keys = sign_folder(tmp_path, ManifestFields(flavour="onnx", entry="model.onnx"))
    with pytest.raises(InvalidInput, match=r"model\.onnx is pickle data \(a protocol 2 pickle\)"):
        load(tmp_path, manifest, public_keys=keys)
