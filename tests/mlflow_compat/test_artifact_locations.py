"""Parsing ``mlflow-artifacts`` paths: whose artifacts, which file, and what is refused."""

from __future__ import annotations

import pytest

from corridor.errors import InvalidInput
from corridor.mlflow_compat.artifact_locations import Owner, parse_location

RUN = "0123456789abcdef0123456789abcdef"
MODEL = "m-" + RUN


def test_a_run_file_and_a_run_root() -> None:
    found = parse_location(f"7/{RUN}/artifacts/plots/loss.png")
    assert (found.experiment_id, found.owner, found.owner_id) == ("7", Owner.RUN, RUN)
    assert found.path == "plots/loss.png"
    assert found.root == f"7/{RUN}/artifacts"
    assert parse_location(f"7/{RUN}/artifacts").path == ""


def test_a_logged_model_file() -> None:
    found = parse_location(f"7/models/{MODEL}/artifacts/MLmodel")
    assert (found.owner, found.owner_id, found.path) == (Owner.LOGGED_MODEL, MODEL, "MLmodel")
    assert found.root == f"7/models/{MODEL}/artifacts"
    assert parse_location(f"7/models/{MODEL}/artifacts").path == ""
    assert parse_location(f"7/models/{MODEL}/artifacts/models/x").path == "models/x"


def test_a_model_version_folder_file() -> None:
    found = parse_location(f"model-versions/{RUN}/artifacts/package/model.json")
    assert (found.owner, found.owner_id, found.path) == (
        Owner.MODEL_VERSION,
        RUN,
        "package/model.json",
    )
    assert found.root == f"model-versions/{RUN}/artifacts"
    assert parse_location(f"model-versions/{RUN}/artifacts").path == ""


@pytest.mark.parametrize(
    "path",
    [
        "",
        "7",
        f"7/{RUN}",
        f"x/{RUN}/artifacts/a",
        f"7/{RUN[:-1]}/artifacts/a",
        f"7/{RUN.upper()}/artifacts/a",
        f"7/{RUN}/other/a",
        f"7/models/{RUN}/artifacts/a",
        f"/7/{RUN}/artifacts/a",
        f"7/{RUN}/artifacts/../../8/{RUN}/artifacts/a",
        f"7/{RUN}/artifacts/%2e%2e/a",
        f"7/{RUN}/artifacts/a//b",
        f"7/{RUN}/artifacts/file:///etc/passwd",
        f"7/{RUN}/artifacts/a;b",
        f"7/{RUN}/artifacts/a\\b",
        f"7/{RUN}/artifacts/a\x00b",
        f"7/{RUN}/artifacts/a/",
        "7/models",
        f"7/models/{MODEL}",
        f"7/models/{MODEL}/other/a",
        f"7/models/{MODEL}/artifact/a",
        f"7/models/m-{RUN[:-1]}/artifacts/a",
        f"7/models/M-{RUN}/artifacts/a",
        f"7/models/m-{RUN.upper()}/artifacts/a",
        f"7/models/{MODEL}x/artifacts/a",
        f"x/models/{MODEL}/artifacts/a",
        f"7/model/{MODEL}/artifacts/a",
        f"7//models/{MODEL}/artifacts/a",
        f"/7/models/{MODEL}/artifacts/a",
        f"7/models/../{RUN}/artifacts/a",
        f"7/models/{MODEL}/../../8/models/{MODEL}/artifacts/a",
        f"7/models/{MODEL}/artifacts/../../../{RUN}/artifacts/a",
        f"7/models/{MODEL}/artifacts/%2e%2e/a",
        f"7/models/{MODEL}/artifacts/%252e%252e/a",
        f"7/models/{MODEL}/artifacts/a//b",
        f"7/models/{MODEL}/artifacts/./a",
        f"7/models/{MODEL}/artifacts/file:///etc/passwd",
        f"7/models/{MODEL}/artifacts/C:/x",
        f"7/models/{MODEL}/artifacts/a;b",
        f"7/models/{MODEL}/artifacts/a\\b",
        f"7/models/{MODEL}/artifacts/a\x00b",
        f"7/models/{MODEL}/artifacts/a/",
        "model-versions",
        f"model-versions/{RUN}",
        f"model-versions/{RUN}/other/a",
        f"model-versions/{RUN[:-1]}/artifacts/a",
        f"model-versions/{RUN.upper()}/artifacts/a",
        f"model-versions/{MODEL}/artifacts/a",
        f"model-versions/../{RUN}/artifacts/a",
        f"model-versions/{RUN}/artifacts/../../{RUN}/artifacts/a",
        f"model-versions/{RUN}/artifacts/%2e%2e/a",
        f"model-versions/{RUN}/artifacts/a//b",
        f"model-versions/{RUN}/artifacts/a/",
        f"/model-versions/{RUN}/artifacts/a",
    ],
)
def test_anything_else_is_refused(path: str) -> None:
    with pytest.raises(InvalidInput, match="refused"):
        parse_location(path)
