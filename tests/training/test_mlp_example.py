"""examples/mlp.py run as a user runs it, on a fresh home; then what it left behind, read
through the CLI and the API: ``mlp@production`` verifies, is a torch package with the MLP's
signature and the run it came from, and the project is ``default``."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import run_cli
from tests.training.example_run import ExampleRun, run_example


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> ExampleRun:
    """The example, run once for the module in a child process over a new local home."""
    return run_example(tmp_path_factory, "mlp.py")


def test_the_example_trains_registers_verifies_and_loads_the_mlp(example: ExampleRun) -> None:
    done = example.done
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("workers=auto: ") for line in lines), done.stdout
    assert "registered mlp@1 (alias production) in project default" in lines
    assert any(line.startswith("verified mlp@production: signed by key ") for line in lines)
    assert (
        lines[-1] == "loaded mlp@production back (torch): its predictions match the trained model's"
    )
    [accuracy] = [
        float(m.group(1)) for line in lines if (m := re.match(r"held-out accuracy ([0-9.]+)", line))
    ]
    assert accuracy > 0.5  # ten classes: chance is 0.1


def test_models_verify_accepts_mlp_at_production_without_a_project(example: ExampleRun) -> None:
    assert example.done.returncode == 0, example.done.stderr
    verified = run_cli(example.home, "models", "verify", "mlp@production")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("OK mlp@production: signed by key ")


def test_models_show_json_gives_the_torch_version_with_its_alias_and_run(
    example: ExampleRun,
) -> None:
    assert example.done.returncode == 0, example.done.stderr
    shown = run_cli(example.home, "models", "show", "mlp", "--json")
    assert shown.returncode == 0, shown.stderr
    model = json.loads(shown.stdout)
    assert (model["project"], model["aliases"]) == ("default", {"production": 1})
    [version] = model["versions"]
    assert (version["flavour"], version["scope"], version["derived_from"]) == (
        "torch",
        "general",
        None,
    )
    assert version["aliases"] == ["production"]
    with example.client() as c:
        run = c.tracking.get_run(version["run_id"])
    assert run.info.status == "FINISHED"
    assert run.tags["corridor.training.workers"] == "1"


def test_the_package_carries_the_mlp_signature_weights_and_code(example: ExampleRun) -> None:
    assert example.done.returncode == 0, example.done.stderr
    with example.client() as c:
        base = "/api/v1/projects/default/models/mlp/versions/1"
        manifest = c.request("GET", f"{base}/manifest").json()
        run_id = c.registry.resolve_model("mlp@production").run_id
    assert manifest["flavour"] == "torch"
    assert manifest["entry"] == "model.safetensors"
    assert {"model.safetensors", "torch-model.json", "code/mlp.py"} <= set(manifest["files"])
    assert manifest["signature"]["inputs"]["tensors"] == [
        {"name": "input", "dtype": "float32", "shape": [-1, 64]}
    ]
    assert manifest["signature"]["outputs"]["tensors"] == [
        {"name": "logits", "dtype": "float32", "shape": [-1, 10]}
    ]
    assert manifest["source_run"] == run_id
    assert manifest["metrics"]["held_out_accuracy"] > 0.5
