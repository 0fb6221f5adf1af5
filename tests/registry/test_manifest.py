"""The manifest: validated fields, safe file paths, one canonical form and its digest."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from corridor.errors import InvalidInput
from corridor.registry.manifest import (
    MANIFEST_FILE_NAME,
    FileEntry,
    ManifestFields,
    Scope,
    build_manifest,
    canonical_json,
    check_package_path,
    package_digest,
    parse_manifest,
)

WHEN = dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
FILE = FileEntry(digest="cd" * 32, size=12)


def fields(**extra: object) -> ManifestFields:
    return ManifestFields.model_validate({"flavour": "onnx", **extra})


def test_the_digest_is_the_sha256_of_the_canonical_json() -> None:
    manifest = build_manifest(
        fields(
            entry="model.onnx",
            signature={
                "inputs": {"kind": "tensors", "tensors": [{"dtype": "float32", "shape": [-1, 4]}]},
                "outputs": {"kind": "columns", "columns": [{"type": "double", "name": "score"}]},
            },
            requirements=["onnxruntime>=1.17"],
            metrics={"auc": 0.91},
            source_run="0" * 32,
            dataset_versions=["sales@3"],
            scope="hyperlocal",
            derived_from="models:/churn/base/2",
        ),
        {"model.onnx": FILE, "tokenizer/vocab.txt": FILE},
        WHEN,
    )
    data = canonical_json(manifest)
    assert package_digest(manifest) == hashlib.sha256(data).hexdigest()
    assert json.loads(data)["scope"] == "hyperlocal"
    assert b" " not in data.replace(b"onnxruntime>=1.17", b"")
    # Stored time has millisecond precision, so the JSON round-trips exactly.
    assert manifest.created_at.microsecond == 678000
    again = parse_manifest(data)
    assert again == manifest
    assert again.scope is Scope.HYPERLOCAL


def test_key_order_does_not_change_the_digest() -> None:
    a = build_manifest(fields(metrics={"a": 1.0, "b": 2.0}), {"x": FILE, "y": FILE}, WHEN)
    b = build_manifest(fields(metrics={"b": 2.0, "a": 1.0}), {"y": FILE, "x": FILE}, WHEN)
    assert package_digest(a) == package_digest(b)


def test_any_change_changes_the_digest() -> None:
    base = build_manifest(fields(), {"x": FILE}, WHEN)
    other_file = build_manifest(fields(), {"x": FileEntry(digest="ce" * 32, size=12)}, WHEN)
    other_scope = build_manifest(fields(scope="specific"), {"x": FILE}, WHEN)
    digests = {package_digest(m) for m in (base, other_file, other_scope)}
    assert len(digests) == 3


def test_only_canonical_manifests_are_read_back() -> None:
    manifest = build_manifest(fields(), {"x": FILE}, WHEN)
    pretty = json.dumps(json.loads(canonical_json(manifest)), indent=2).encode()
    with pytest.raises(InvalidInput, match="canonical"):
        parse_manifest(pretty)
    with pytest.raises(InvalidInput, match="not a package manifest"):
        parse_manifest(b'{"flavour": "onnx"}')


@pytest.mark.parametrize(
    ("extra", "files", "message"),
    [
        ({"entry": "missing.onnx"}, {"x": FILE}, "entry 'missing.onnx'"),
        ({"flavour": "Not A Flavour"}, {"x": FILE}, "flavour"),
        ({"scope": "global"}, {"x": FILE}, "scope"),
        ({"metrics": {"auc": float("nan")}}, {"x": FILE}, "finite"),
        ({"surprise": 1}, {"x": FILE}, "surprise"),
        ({}, {"../x": FILE}, "'..' segment"),
    ],
)
def test_bad_fields_are_refused(
    extra: dict[str, object], files: dict[str, FileEntry], message: str
) -> None:
    with pytest.raises((InvalidInput, ValueError), match=message):
        build_manifest(fields(**extra), files, WHEN)


@pytest.mark.parametrize(
    "path",
    [
        "model.onnx",
        "a/b/c.bin",
        "variables/variables.data-00000-of-00001",
        "my model.pkl",
        "x(1).json",
    ],
)
def test_package_paths_accept_ordinary_file_names(path: str) -> None:
    assert check_package_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a/./b",
        "a//b",
        "a/",
        "...",
        "C:/x",
        "c:x",
        "a\\b",
        "%2e%2e/x",
        "a;b",
        "a\x00b",
        "a\nb",
        " a",
        "\uff0e\uff0e/x",
        MANIFEST_FILE_NAME,
        "/".join(["d"] * 40),
        "x" * 1025,
    ],
)
def test_package_paths_refuse_anything_that_could_leave_the_folder(path: str) -> None:
    with pytest.raises(InvalidInput):
        check_package_path(path)
